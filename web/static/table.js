// Live view of any watched table, served at /table/<db>.<table>. Loads the
// columns, key and rows from /api/tables/<db>.<table>, then applies the change
// events of that table from /events. Every value is rendered as text.

import { ChangeLog, showLastChange } from "./change-log.js";
import { LagIndicator } from "./lag.js";
import { LiveStream, rowcast } from "./live-stream.js";
import { RowTable } from "./row-table.js";

const PATH_PREFIX = "/table/";

const elements = {
  title: document.getElementById("page-title"),
  caption: document.getElementById("rows-caption"),
  headers: document.getElementById("column-headers"),
  emptyText: document.getElementById("empty-text"),
  rowCount: document.getElementById("row-count"),
  lastChange: document.getElementById("last-change"),
  lag: document.getElementById("lag"),
};

const tableName = readTableName();

const table = new RowTable({
  tbody: document.getElementById("rows"),
  emptyState: document.getElementById("empty-state"),
  emptyText: elements.emptyText,
  decorateRow: (tr, row, keyValues) => {
    tr.dataset.key = JSON.stringify(keyValues);
  },
  emptyTexts: { noRows: "No rows.", noMatches: "No rows." },
});

const changeLog = new ChangeLog({
  list: document.getElementById("change-log"),
  empty: document.getElementById("change-log-empty"),
  toggle: document.getElementById("change-log-toggle"),
  body: document.getElementById("change-log-body"),
});

const lag = new LagIndicator(elements.lag);

// The column list of the snapshot that was reloaded because change events had
// other columns. A second mismatch with the same columns does not reload again,
// so a difference that a reload cannot fix does not reload on every change.
let reloadedForColumns = null;

const stream = new LiveStream({
  snapshotUrl: `/api/tables/${encodeURIComponent(tableName ?? "")}`,
  table: tableName ?? "",
  description: tableName ?? "the table",
  parseSnapshot,
  onSnapshot: applySnapshot,
  onBatch: applyBatch,
  onStateChange: (state) => {
    lag.setLive(state === "live");
    if (state === "failed" && !table.loaded) {
      elements.caption.textContent = "No table loaded.";
      elements.emptyText.textContent = "No rows loaded.";
      elements.rowCount.textContent = "No rows loaded.";
    }
  },
});

// Returns db.table from the page's path /table/<db>.<table>, decoded, or null
// when the path names no table or is not valid percent-encoding.
function readTableName() {
  const path = window.location.pathname;
  if (!path.startsWith(PATH_PREFIX)) return null;
  try {
    const name = decodeURIComponent(path.slice(PATH_PREFIX.length));
    return name === "" ? null : name;
  } catch {
    return null;
  }
}

function parseSnapshot(body) {
  if (!body || !Array.isArray(body.rows)) {
    throw new Error('the response is missing the "rows" array');
  }
  if (!isTextList(body.columns) || body.columns.length === 0) {
    throw new Error('the response is missing the "columns" list');
  }
  if (!isTextList(body.key)) {
    throw new Error('the response is missing the "key" list');
  }
  return { rows: body.rows, columns: body.columns, key: body.key, lastEventId: body.last_event_id };
}

function isTextList(value) {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

// Builds the header when the columns or key changed, then shows the rows.
function applySnapshot(snapshot, highlight) {
  const sameColumns = sameList(snapshot.columns, table.columns) && sameList(snapshot.key, table.keyColumns);
  if (sameColumns) {
    table.replaceAll(snapshot.rows, highlight);
  } else {
    showColumns(snapshot.columns, snapshot.key);
    table.setColumns(snapshot.columns, snapshot.key);
    // Every row is new to the rebuilt table, so nothing is marked as changed.
    table.replaceAll(snapshot.rows, false);
  }
  updateSummary();
}

function showColumns(columns, keyColumns) {
  const cells = columns.map((column) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column;
    if (keyColumns.includes(column)) {
      th.classList.add("key-column");
      th.title = "Primary key column";
    }
    return th;
  });
  elements.headers.replaceChildren(...cells);
  elements.emptyText.colSpan = columns.length;
  elements.caption.textContent = keyColumns.length > 0
    ? `${tableName}, sorted by its primary key (${keyColumns.join(", ")})`
    : `${tableName} has no primary key, so rows are sorted by all columns`;
  rowcast.columns = [...columns];
  rowcast.keyColumns = [...keyColumns];
}

function applyBatch(changes) {
  if (hasOtherColumns(changes)) {
    const columns = JSON.stringify(table.columns);
    if (reloadedForColumns !== columns) {
      reloadedForColumns = columns;
      stream.resync("Reloading the table: its columns changed.");
      return;
    }
  }
  table.applyChanges(changes);
  updateSummary();
  changeLog.add(changes);
  lag.record(changes);
  showLastChange(elements.lastChange, changes);
}

// Tells whether a row image of the changes has columns other than the header's,
// as after ALTER TABLE.
function hasOtherColumns(changes) {
  for (const change of changes) {
    for (const image of [change.before, change.after]) {
      if (image === null || typeof image !== "object") continue;
      const names = Object.keys(image);
      if (names.length !== table.columns.length || !names.every((name) => table.columns.includes(name))) {
        return true;
      }
    }
  }
  return false;
}

function sameList(a, b) {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

function updateSummary() {
  rowcast.rowCount = table.size;
  elements.rowCount.dataset.count = String(table.size);
  elements.rowCount.textContent = `${table.size} ${table.size === 1 ? "row" : "rows"}`;
}

function start() {
  if (tableName === null) {
    const path = window.location.pathname;
    stream.fail(`The address ${path} does not name a table. Open /table/db.table, for example /table/robots.task.`);
    return;
  }
  rowcast.table = tableName;
  document.title = `rowcast — ${tableName}`;
  elements.title.textContent = `rowcast — ${tableName}`;
  stream.start();
}

start();
