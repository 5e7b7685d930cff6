// Live table of robot tasks. Loads a snapshot from /api/tasks, then applies the
// change events of the /events Server-Sent Events stream to the table in place.
// Every value from the server is rendered with textContent, never parsed as HTML.

import { ChangeLog, showLastChange } from "./change-log.js";
import { compareValues, displayText } from "./format.js";
import { LagIndicator } from "./lag.js";
import { LiveStream, rowcast } from "./live-stream.js";
import { RowTable } from "./row-table.js";

const COLUMNS = ["Task_ID", "Robot_ID", "Task_Name", "Issued_Time", "Scheduled_Time", "Status"];
const STATUSES = ["SCHEDULED", "ACTIVE", "COMPLETED", "PREEMPTED", "REJECTED"];

const SNAPSHOT_URL = "/api/tasks";
const EVENTS_TABLE = "robots.task";

const elements = {
  rowCount: document.getElementById("row-count"),
  statusCounts: document.getElementById("status-counts"),
  robotFilter: document.getElementById("filter-robot"),
  statusFilter: document.getElementById("filter-status"),
  filtersForm: document.getElementById("filters"),
  lastChange: document.getElementById("last-change"),
  lag: document.getElementById("lag"),
};

const filters = readFiltersFromUrl();

const table = new RowTable({
  tbody: document.getElementById("task-rows"),
  emptyState: document.getElementById("empty-state"),
  emptyText: document.getElementById("empty-text"),
  columns: COLUMNS,
  keyColumns: ["Task_ID"],
  decorateRow: (tr, row) => {
    tr.dataset.taskId = String(row.Task_ID);
  },
  fillCell,
  matches: matchesFilters,
  emptyTexts: { noRows: "No tasks.", noMatches: "No tasks match the filters." },
});

const changeLog = new ChangeLog({
  list: document.getElementById("change-log"),
  empty: document.getElementById("change-log-empty"),
  toggle: document.getElementById("change-log-toggle"),
  body: document.getElementById("change-log-body"),
});

const lag = new LagIndicator(elements.lag);

const stream = new LiveStream({
  snapshotUrl: SNAPSHOT_URL,
  table: EVENTS_TABLE,
  description: "tasks",
  parseSnapshot,
  onSnapshot: (snapshot, highlight) => {
    table.replaceAll(snapshot.rows, highlight);
    updateSummary();
  },
  onBatch: applyBatch,
  onStateChange: (state) => lag.setLive(state === "live"),
});

function parseSnapshot(body) {
  if (!body || !Array.isArray(body.tasks)) {
    throw new Error('the response is missing the "tasks" array');
  }
  return { rows: body.tasks, lastEventId: body.last_event_id };
}

function applyBatch(changes) {
  table.applyChanges(changes);
  updateSummary();
  changeLog.add(changes);
  lag.record(changes);

  showLastChange(elements.lastChange, changes);
  const newest = changes[changes.length - 1];
  const row = newest?.after ?? newest?.before ?? newest?.key;
  // Named data-last-* so that [data-task-id] selectors match table rows only.
  elements.lastChange.dataset.lastTaskId = row?.Task_ID == null ? "?" : String(row.Task_ID);
}

// ---- Cells ----

function fillCell(td, column, value) {
  if (column === "Status" && value != null) {
    td.replaceChildren(createBadge(String(value)));
  } else {
    td.textContent = displayText(value);
  }
}

function createBadge(status) {
  const badge = document.createElement("span");
  // A status outside the known set gets a neutral style; the raw value never becomes a class name.
  const styleName = STATUSES.includes(status) ? status : "other";
  badge.className = `badge status-${styleName}`;
  badge.dataset.status = status;
  badge.textContent = status;
  return badge;
}

// ---- Summary and counters ----

function updateSummary() {
  rowcast.rowCount = table.size;
  const totalCount = table.size;
  const visibleCount = table.shownCount;
  const noun = totalCount === 1 ? "task" : "tasks";
  elements.rowCount.dataset.count = String(totalCount);
  elements.rowCount.dataset.shown = String(visibleCount);
  elements.rowCount.textContent = hasFilters()
    ? `${visibleCount} of ${totalCount} ${noun} shown`
    : `${totalCount} ${noun}`;

  renderStatusCounts();
  updateRobotOptions();
}

// Counts every task, whatever the filters, so each pill shows the whole table.
function renderStatusCounts() {
  const counts = new Map(STATUSES.map((status) => [status, 0]));
  for (const row of table.rows()) {
    const status = displayText(row.Status);
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }

  const pills = [];
  for (const [status, count] of counts) {
    const pill = document.createElement("li");
    const styleName = STATUSES.includes(status) ? status : "other";
    pill.className = `pill status-${styleName}`;
    pill.dataset.status = status;
    pill.dataset.count = String(count);
    const label = document.createElement("span");
    label.className = "pill-label";
    label.textContent = status;
    const number = document.createElement("span");
    number.className = "pill-count";
    number.textContent = String(count);
    pill.append(label, " ", number);
    pills.push(pill);
  }
  elements.statusCounts.replaceChildren(...pills);
}

// ---- Filters ----

function readFiltersFromUrl() {
  const params = new URLSearchParams(window.location.search);
  return {
    robot: (params.get("robot") ?? "").trim(),
    status: (params.get("status") ?? "").trim().toUpperCase(),
  };
}

function hasFilters() {
  return filters.robot !== "" || filters.status !== "";
}

function matchesFilters(row) {
  if (filters.robot !== "" && (row.Robot_ID == null || String(row.Robot_ID) !== filters.robot)) return false;
  if (filters.status !== "" && row.Status !== filters.status) return false;
  return true;
}

function writeFiltersToUrl() {
  const url = new URL(window.location.href);
  for (const [name, value] of Object.entries(filters)) {
    if (value === "") url.searchParams.delete(name);
    else url.searchParams.set(name, value);
  }
  window.history.replaceState(window.history.state, "", url);
}

function applyFilterControls() {
  filters.robot = elements.robotFilter.value;
  filters.status = elements.statusFilter.value;
  writeFiltersToUrl();
  table.renderAll(false);
  updateSummary();
}

// Replaces the options after "All …" when the set of values changed; the selection is kept.
function setOptions(select, values) {
  const current = [...select.options].slice(1).map((option) => option.value);
  if (current.length === values.length && current.every((value, index) => value === values[index])) return;

  const options = values.map((value) => new Option(value, value));
  select.replaceChildren(select.options[0], ...options);
}

// Lists the robots present in the table, plus the robot from the URL even if it has no tasks.
function updateRobotOptions() {
  const robots = new Set();
  for (const row of table.rows()) {
    if (row.Robot_ID != null) robots.add(String(row.Robot_ID));
  }
  if (filters.robot !== "") robots.add(filters.robot);
  setOptions(elements.robotFilter, [...robots].sort(compareValues));
  elements.robotFilter.value = filters.robot;
}

function initFilterControls() {
  const statuses = STATUSES.includes(filters.status) || filters.status === ""
    ? STATUSES
    : [...STATUSES, filters.status];
  setOptions(elements.statusFilter, statuses);
  elements.statusFilter.value = filters.status;
  updateRobotOptions();

  elements.robotFilter.addEventListener("change", applyFilterControls);
  elements.statusFilter.addEventListener("change", applyFilterControls);
  elements.filtersForm.addEventListener("submit", (event) => event.preventDefault());
}

initFilterControls();
stream.start();
