// Live table of robot tasks. Loads a snapshot from /api/tasks, then applies the
// change events of the /events Server-Sent Events stream to the table in place.
// Every value from the server is rendered with textContent, never parsed as HTML.

const COLUMNS = ["Task_ID", "Robot_ID", "Task_Name", "Issued_Time", "Scheduled_Time", "Status"];
const STATUSES = ["SCHEDULED", "ACTIVE", "COMPLETED", "PREEMPTED", "REJECTED"];

const SNAPSHOT_URL = "/api/tasks";
const EVENTS_URL = "/events";
const EVENTS_TABLE = "robots.task";

const SNAPSHOT_RETRY_MS = 2000;
const STREAM_RETRY_MIN_MS = 1000;
const STREAM_RETRY_MAX_MS = 15000;
const MESSAGE_VISIBLE_MS = 8000;
// A deleted row is removed this long after its fade starts. Keep it just above
// the duration of the "removing" animation in style.css (300 ms).
const ROW_REMOVE_DELAY_MS = 350;

const STATE_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  resyncing: "Resyncing…",
};

// Test hook: the page updates this object in place, so a reference stays current.
const rowcast = {
  state: "connecting",
  appliedEvents: 0,
  lastEventId: null,
  rowCount: 0,
  reconnectAttempts: 0,
  serverState: null,
};
window.rowcast = rowcast;

const elements = {
  connection: document.getElementById("connection"),
  connectionText: document.getElementById("connection-text"),
  serverStatus: document.getElementById("server-status"),
  statusMessage: document.getElementById("status-message"),
  loadError: document.getElementById("load-error"),
  rowCount: document.getElementById("row-count"),
  statusCounts: document.getElementById("status-counts"),
  robotFilter: document.getElementById("filter-robot"),
  statusFilter: document.getElementById("filter-status"),
  filtersForm: document.getElementById("filters"),
  lastChange: document.getElementById("last-change"),
  rows: document.getElementById("task-rows"),
  emptyState: document.getElementById("empty-state"),
  emptyText: document.getElementById("empty-text"),
};

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

// All rows by Task_ID key (see taskKey), whether or not the filters show them.
const tasks = new Map();
// Rows in the table: Task_ID key -> {tr, row}. Rows that are fading out are not here.
const rendered = new Map();
// Rows that are fading out after a delete: Task_ID key -> tr.
const fading = new Map();

const filters = readFiltersFromUrl();
let snapshotLoaded = false;
// Change events of the transaction being received, applied when its last event arrives.
let pendingChanges = [];
let source = null;
// Incremented by each snapshot request so that a slower, older response is dropped.
let snapshotGeneration = 0;
let retryTimer = null;
let messageTimer = null;

// ---- Connection state and status area ----

function setState(state, label = STATE_LABELS[state]) {
  rowcast.state = state;
  document.body.dataset.state = state;
  elements.connection.dataset.state = state;
  elements.connectionText.textContent = label;
}

function setReconnecting() {
  rowcast.reconnectAttempts += 1;
  setState("reconnecting", `Reconnecting (attempt ${rowcast.reconnectAttempts})…`);
}

// Shows a message in the status area for MESSAGE_VISIBLE_MS.
function showMessage(text) {
  clearTimeout(messageTimer);
  elements.statusMessage.textContent = text;
  elements.statusMessage.hidden = false;
  messageTimer = setTimeout(() => {
    elements.statusMessage.hidden = true;
    elements.statusMessage.textContent = "";
  }, MESSAGE_VISIBLE_MS);
}

function showLoadError(text) {
  elements.loadError.textContent = text;
  elements.loadError.hidden = false;
}

function hideLoadError() {
  elements.loadError.hidden = true;
  elements.loadError.textContent = "";
}

// ---- Snapshot ----

// Loads /api/tasks, renders it and subscribes to changes after its last_event_id.
// On failure it shows the error and tries again after SNAPSHOT_RETRY_MS.
async function loadSnapshot(state) {
  const generation = ++snapshotGeneration;
  closeStream();
  clearTimeout(retryTimer);
  setState(state);

  let snapshot;
  try {
    snapshot = await fetchSnapshot();
  } catch (error) {
    if (generation !== snapshotGeneration) return;
    const seconds = SNAPSHOT_RETRY_MS / 1000;
    showLoadError(`Loading tasks from ${SNAPSHOT_URL} failed: ${error.message}. Retrying in ${seconds} s.`);
    retryTimer = setTimeout(() => loadSnapshot(state), SNAPSHOT_RETRY_MS);
    return;
  }
  if (generation !== snapshotGeneration) return;

  hideLoadError();
  pendingChanges = [];
  // After a resync, cells that differ from the old table are highlighted like live changes.
  const highlight = snapshotLoaded;
  snapshotLoaded = true;
  replaceTasks(snapshot.tasks, highlight);
  rowcast.lastEventId = snapshot.last_event_id ?? null;
  openStream(rowcast.lastEventId);
}

// The access token, when the server requires one, comes from the page's own
// URL (?token=...). EventSource cannot send headers, so the stream gets it as a
// query parameter; the snapshot request sends it as a bearer header.
const ACCESS_TOKEN = new URLSearchParams(window.location.search).get("token");

async function fetchSnapshot() {
  const headers = { Accept: "application/json" };
  if (ACCESS_TOKEN) headers.Authorization = `Bearer ${ACCESS_TOKEN}`;
  const response = await fetch(SNAPSHOT_URL, { headers, cache: "no-store" });
  if (!response.ok) {
    throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
  }
  const snapshot = await response.json();
  if (!snapshot || !Array.isArray(snapshot.tasks)) {
    throw new Error('the response is missing the "tasks" array');
  }
  return snapshot;
}

function replaceTasks(rows, highlight) {
  const keys = new Set(tasks.keys());
  tasks.clear();
  for (const row of rows) {
    const key = taskKey(row);
    if (key === null) continue;
    tasks.set(key, row);
    keys.add(key);
  }
  renderKeys(keys, highlight);
  updateSummary();
}

// ---- Event stream ----

function openStream(lastEventId) {
  closeStream();
  // State mode: while this tab lags (for example in the background), the server
  // merges pending changes per row, so the tab catches up instead of being dropped.
  const params = new URLSearchParams({ table: EVENTS_TABLE, mode: "state" });
  if (lastEventId) params.set("last_event_id", lastEventId);
  if (ACCESS_TOKEN) params.set("token", ACCESS_TOKEN);

  const stream = new EventSource(`${EVENTS_URL}?${params}`);
  source = stream;
  // Handlers of a replaced stream do nothing, even if an event was already queued.
  const listen = (type, handler) => {
    stream.addEventListener(type, (event) => {
      if (stream === source) handler(event, stream);
    });
  };
  listen("open", handleOpen);
  listen("error", handleStreamError);
  listen("change", handleChange);
  listen("reset", handleReset);
  listen("status", handleServerStatus);
}

function closeStream() {
  if (source === null) return;
  source.close();
  source = null;
}

function handleOpen() {
  rowcast.reconnectAttempts = 0;
  setState("live");
}

// While readyState is CONNECTING the browser reconnects by itself and sends
// Last-Event-ID. CLOSED means it gave up (for example on an HTTP error status
// or a wrong Content-Type), so the page opens a new stream after a backoff delay.
function handleStreamError(event, stream) {
  setReconnecting();
  if (stream.readyState !== EventSource.CLOSED) return;

  closeStream();
  const delay = Math.min(STREAM_RETRY_MIN_MS * 2 ** (rowcast.reconnectAttempts - 1), STREAM_RETRY_MAX_MS);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => openStream(rowcast.lastEventId), delay);
}

function handleChange(event) {
  let change;
  try {
    change = JSON.parse(event.data);
  } catch {
    resync("Reloading the table: a change event contained invalid JSON.");
    return;
  }
  rowcast.lastEventId = event.lastEventId || change.id || rowcast.lastEventId;
  bufferChange(change);
}

function handleReset(event) {
  const reset = parseEventData(event);
  const detail = reset.message || reset.reason || "the server cannot resume from the last event ID";
  resync(`Reloading the table: ${detail}`);
}

// Shows the state of the server's binlog reader, which is separate from this page's connection.
function handleServerStatus(event) {
  const status = parseEventData(event);
  const state = typeof status.state === "string" ? status.state : "unknown";
  rowcast.serverState = state;
  elements.serverStatus.dataset.state = state;
  elements.serverStatus.textContent = status.message ? `Server: ${status.message}` : `Server: ${state}`;
  elements.serverStatus.hidden = false;
}

function parseEventData(event) {
  try {
    return JSON.parse(event.data) ?? {};
  } catch {
    return {};
  }
}

function resync(message) {
  closeStream();
  showMessage(message);
  loadSnapshot("resyncing");
}

// Buffers a change until its transaction is complete (txn.last === true).
// A change without txn is applied at once.
function bufferChange(change) {
  // A change from another transaction means the buffered one ended without a
  // txn.last flag reaching this page, so the buffer is applied rather than held forever.
  if (pendingChanges.length > 0 && change.txn?.id !== pendingChanges[0].txn?.id) {
    flushChanges();
  }
  pendingChanges.push(change);
  if (!change.txn || change.txn.last === true) {
    flushChanges();
  }
}

function flushChanges() {
  const batch = pendingChanges;
  pendingChanges = [];
  applyChanges(batch);
}

// Applies a batch of changes to the model, then updates the DOM once.
function applyChanges(batch) {
  const keys = new Set();
  for (const change of batch) {
    for (const key of applyToModel(change)) keys.add(key);
  }
  rowcast.appliedEvents += batch.length;
  renderKeys(keys, true);
  updateSummary();
  showLastChange(batch);
}

// Applies one change to `tasks` and returns the Task_ID keys it touched. An update
// may change Task_ID, so it removes the row under the old key and stores the new one.
function applyToModel(change) {
  const touched = [];
  if (change.op === "update" || change.op === "delete") {
    const key = taskKey(change.before) ?? taskKey(change.key);
    if (key !== null) {
      tasks.delete(key);
      touched.push(key);
    }
  }
  if (change.op === "insert" || change.op === "update") {
    const key = taskKey(change.after);
    if (key !== null) {
      tasks.set(key, change.after);
      touched.push(key);
    }
  }
  return touched;
}

// Map key for a row: Task_ID as a string, so 3 and "3" are the same task.
function taskKey(row) {
  if (row == null || row.Task_ID == null) return null;
  return String(row.Task_ID);
}

// ---- Rendering ----

// Brings the table rows for the given keys in line with the model and the filters.
// With highlight, new rows, changed cells and removed rows are marked for animation.
function renderKeys(keys, highlight) {
  const updates = [];
  for (const key of keys) {
    const row = tasks.get(key);
    const entry = rendered.get(key);
    const visible = row !== undefined && matchesFilters(row);

    if (!visible) {
      if (entry) {
        rendered.delete(key);
        removeRow(key, entry.tr, highlight);
      }
    } else if (entry) {
      updates.push({ entry, row });
    } else {
      dropFadingRow(key);
      const tr = createRow(key, row);
      if (highlight) tr.classList.add("inserted");
      rendered.set(key, { tr, row });
    }
  }
  updateRows(updates, highlight);
  placeRows();
  updateEmptyState();
}

function createRow(key, row) {
  const tr = document.createElement("tr");
  tr.dataset.taskId = key;
  for (const column of COLUMNS) {
    const td = document.createElement("td");
    td.dataset.column = column;
    fillCell(td, column, row[column]);
    tr.append(td);
  }
  return tr;
}

function fillCell(td, column, value) {
  td.classList.toggle("null", value == null);
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

function displayText(value) {
  return value == null ? "NULL" : String(value);
}

// Writes changed cells. With highlight, each changed cell gets the class
// "changed" and a "was: <old value>" title, replacing the marks of the row's previous change.
function updateRows(updates, highlight) {
  const changedRows = [];
  for (const { entry, row } of updates) {
    const oldRow = entry.row;
    const columns = COLUMNS.filter((column) => displayText(oldRow[column]) !== displayText(row[column]));
    if (columns.length > 0) changedRows.push({ tr: entry.tr, oldRow, row, columns });
    entry.row = row;
  }
  if (highlight) clearMarks(changedRows.map(({ tr }) => tr));

  for (const { tr, oldRow, row, columns } of changedRows) {
    for (const column of columns) {
      const td = tr.querySelector(`td[data-column="${column}"]`);
      fillCell(td, column, row[column]);
      if (highlight) {
        td.classList.add("changed");
        td.title = `was: ${displayText(oldRow[column])}`;
      }
    }
  }
}

// Removes the marks of earlier changes. Forcing a style recalculation in
// between lets the same animation class start again on the same element.
function clearMarks(rows) {
  let cleared = false;
  for (const tr of rows) {
    if (tr.classList.contains("inserted")) {
      tr.classList.remove("inserted");
      cleared = true;
    }
    for (const td of tr.querySelectorAll("td.changed")) {
      td.classList.remove("changed");
      td.removeAttribute("title");
      cleared = true;
    }
  }
  if (cleared) void elements.rows.offsetWidth;
}

// Fades a row out and removes it from the DOM ROW_REMOVE_DELAY_MS later.
// Without animate, or when the user prefers reduced motion, it is removed at once.
function removeRow(key, tr, animate) {
  if (!animate || reducedMotion.matches) {
    tr.remove();
    return;
  }
  tr.classList.add("removing");
  tr.setAttribute("aria-hidden", "true");
  fading.set(key, tr);
  setTimeout(() => {
    tr.remove();
    if (fading.get(key) === tr) fading.delete(key);
  }, ROW_REMOVE_DELAY_MS);
}

// Removes a fading row at once, so a row inserted again under the same Task_ID is the only one.
function dropFadingRow(key) {
  const tr = fading.get(key);
  if (tr === undefined) return;
  tr.remove();
  fading.delete(key);
}

// Moves rendered rows into Task_ID order, touching only rows that are out of place.
// Fading rows stay where they are until they are removed.
function placeRows() {
  const ordered = [...rendered.keys()].sort(compareKeys);
  let next = skipFadingRows(elements.rows.firstElementChild);
  for (const key of ordered) {
    const { tr } = rendered.get(key);
    if (tr === next) {
      next = skipFadingRows(tr.nextElementSibling);
    } else {
      elements.rows.insertBefore(tr, next);
    }
  }
}

function skipFadingRows(tr) {
  let current = tr;
  while (current !== null && current.classList.contains("removing")) {
    current = current.nextElementSibling;
  }
  return current;
}

// Sorts numeric Task_IDs numerically and before any non-numeric ones.
function compareKeys(a, b) {
  const numberA = Number(a);
  const numberB = Number(b);
  const finiteA = a !== "" && Number.isFinite(numberA);
  const finiteB = b !== "" && Number.isFinite(numberB);
  if (finiteA && finiteB && numberA !== numberB) return numberA - numberB;
  if (finiteA !== finiteB) return finiteA ? -1 : 1;
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function updateEmptyState() {
  elements.emptyState.hidden = rendered.size > 0;
  if (!snapshotLoaded) return;
  elements.emptyText.textContent = tasks.size === 0 ? "No tasks." : "No tasks match the filters.";
}

// ---- Summary, counters and last change ----

function updateSummary() {
  rowcast.rowCount = tasks.size;
  const totalCount = tasks.size;
  const visibleCount = rendered.size;
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
  for (const row of tasks.values()) {
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

function showLastChange(batch) {
  const change = batch[batch.length - 1];
  if (change === undefined) return;
  const key = taskKey(change.after) ?? taskKey(change.before) ?? taskKey(change.key) ?? "?";
  const when = Number.isFinite(change.ts_ms) ? new Date(change.ts_ms) : new Date();

  const time = document.createElement("time");
  time.dateTime = when.toISOString();
  time.textContent = when.toLocaleTimeString();

  const parts = [`Last change: ${String(change.op)} of Task_ID ${key} at `, time];
  if (batch.length > 1) parts.push(` (${batch.length} changes in one transaction)`);
  elements.lastChange.replaceChildren(...parts);
  // Named data-last-* so that [data-task-id] selectors match table rows only.
  elements.lastChange.dataset.lastOp = String(change.op);
  elements.lastChange.dataset.lastTaskId = key;
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
  renderKeys(new Set(tasks.keys()), false);
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
  for (const row of tasks.values()) {
    if (row.Robot_ID != null) robots.add(String(row.Robot_ID));
  }
  if (filters.robot !== "") robots.add(filters.robot);
  setOptions(elements.robotFilter, [...robots].sort(compareKeys));
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
loadSnapshot("connecting");
