// The connection of a live page: loads a snapshot, subscribes to the change
// events after its last_event_id over Server-Sent Events, hands over each
// transaction's changes as one batch, and shows the connection state. Both the
// task page and the generic table page use it with their own snapshot URL.

const EVENTS_URL = "/events";

const SNAPSHOT_RETRY_MS = 2000;
const STREAM_RETRY_MIN_MS = 1000;
const STREAM_RETRY_MAX_MS = 15000;
const MESSAGE_VISIBLE_MS = 8000;
// Snapshot responses that a retry cannot fix: an invalid table name, a missing or
// wrong token, a table that is not watched. The page shows the server's message and stops.
const FINAL_STATUSES = new Set([400, 401, 403, 404]);

const STATE_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  resyncing: "Resyncing…",
  failed: "Not connected",
};

// Test hook: the page updates this object in place, so a reference stays current.
export const rowcast = {
  state: "connecting",
  appliedEvents: 0,
  lastEventId: null,
  rowCount: 0,
  reconnectAttempts: 0,
  serverState: null,
  lagSeconds: null,
};
window.rowcast = rowcast;

// The access token, when the server requires one, comes from the page's own
// URL (?token=...). EventSource cannot send headers, so the stream gets it as a
// query parameter; the snapshot request sends it as a bearer header.
export const ACCESS_TOKEN = new URLSearchParams(window.location.search).get("token");

// A failed snapshot request. `final` is true when retrying cannot help.
export class SnapshotError extends Error {
  constructor(message, final = false) {
    super(message);
    this.name = "SnapshotError";
    this.final = final;
  }
}

export class LiveStream {
  // options:
  //   snapshotUrl    the REST snapshot to load, such as /api/tasks
  //   table          db.table for the table= parameter of /events
  //   description    what the snapshot contains, for messages ("tasks")
  //   parseSnapshot  (body) checks the JSON body and returns {lastEventId, ...}, or throws an Error
  //   onSnapshot     (snapshot, highlight) is called after each load, with highlight true after a resync
  //   onBatch        (changes) is called with the changes of one transaction, in order
  //   onStateChange  (state) is called after every change of the connection state
  constructor(options) {
    this.options = options;
    this.elements = {
      connection: document.getElementById("connection"),
      connectionText: document.getElementById("connection-text"),
      serverStatus: document.getElementById("server-status"),
      statusMessage: document.getElementById("status-message"),
      loadError: document.getElementById("load-error"),
    };
    this.snapshotLoaded = false;
    // Change events of the transaction being received, handed over when its last event arrives.
    this.pendingChanges = [];
    this.source = null;
    // Incremented by each snapshot request so that a slower, older response is dropped.
    this.snapshotGeneration = 0;
    this.retryTimer = null;
    this.messageTimer = null;
  }

  start() {
    this.loadSnapshot("connecting");
  }

  // ---- Connection state and status area ----

  setState(state, label = STATE_LABELS[state]) {
    rowcast.state = state;
    document.body.dataset.state = state;
    this.elements.connection.dataset.state = state;
    this.elements.connectionText.textContent = label;
    this.options.onStateChange?.(state);
  }

  setReconnecting() {
    rowcast.reconnectAttempts += 1;
    this.setState("reconnecting", `Reconnecting (attempt ${rowcast.reconnectAttempts})…`);
  }

  // Shows a message in the status area for MESSAGE_VISIBLE_MS.
  showMessage(text) {
    const { statusMessage } = this.elements;
    clearTimeout(this.messageTimer);
    statusMessage.textContent = text;
    statusMessage.hidden = false;
    this.messageTimer = setTimeout(() => {
      statusMessage.hidden = true;
      statusMessage.textContent = "";
    }, MESSAGE_VISIBLE_MS);
  }

  showLoadError(text) {
    this.elements.loadError.textContent = text;
    this.elements.loadError.hidden = false;
  }

  hideLoadError() {
    this.elements.loadError.hidden = true;
    this.elements.loadError.textContent = "";
  }

  // Stops for good with an error that no retry can fix.
  fail(message) {
    this.closeStream();
    clearTimeout(this.retryTimer);
    this.showLoadError(message);
    this.setState("failed");
  }

  // ---- Snapshot ----

  // Loads the snapshot, hands it to onSnapshot and subscribes to the changes
  // after its last_event_id. On a failure that a retry may fix, it shows the
  // error and tries again after SNAPSHOT_RETRY_MS.
  async loadSnapshot(state) {
    const generation = ++this.snapshotGeneration;
    const { snapshotUrl, description } = this.options;
    this.closeStream();
    clearTimeout(this.retryTimer);
    this.setState(state);

    let snapshot;
    try {
      snapshot = await this.fetchSnapshot();
    } catch (error) {
      if (generation !== this.snapshotGeneration) return;
      const problem = `Loading ${description} from ${snapshotUrl} failed: ${asSentence(error.message)}`;
      if (error instanceof SnapshotError && error.final) {
        this.fail(problem);
        return;
      }
      this.showLoadError(`${problem} Retrying in ${SNAPSHOT_RETRY_MS / 1000} s.`);
      this.retryTimer = setTimeout(() => this.loadSnapshot(state), SNAPSHOT_RETRY_MS);
      return;
    }
    if (generation !== this.snapshotGeneration) return;

    this.hideLoadError();
    this.pendingChanges = [];
    // After a resync, cells that differ from the old table are highlighted like live changes.
    const highlight = this.snapshotLoaded;
    this.snapshotLoaded = true;
    this.options.onSnapshot(snapshot, highlight);
    rowcast.lastEventId = snapshot.lastEventId ?? null;
    this.openStream(rowcast.lastEventId);
  }

  async fetchSnapshot() {
    const headers = { Accept: "application/json" };
    if (ACCESS_TOKEN) headers.Authorization = `Bearer ${ACCESS_TOKEN}`;
    const response = await fetch(this.options.snapshotUrl, { headers, cache: "no-store" });
    if (!response.ok) {
      const status = `HTTP ${response.status} ${response.statusText}`.trim();
      const detail = await readServerMessage(response);
      throw new SnapshotError(detail ? `${status}: ${detail}` : status, FINAL_STATUSES.has(response.status));
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new SnapshotError("the response is not valid JSON");
    }
    return this.options.parseSnapshot(body);
  }

  // Closes the stream, shows why, and loads the snapshot again.
  resync(message) {
    this.closeStream();
    this.showMessage(message);
    this.loadSnapshot("resyncing");
  }

  // ---- Event stream ----

  openStream(lastEventId) {
    this.closeStream();
    // State mode: while this tab lags (for example in the background), the server
    // merges pending changes per row, so the tab catches up instead of being dropped.
    const params = new URLSearchParams({ table: this.options.table, mode: "state" });
    if (lastEventId) params.set("last_event_id", lastEventId);
    if (ACCESS_TOKEN) params.set("token", ACCESS_TOKEN);

    const stream = new EventSource(`${EVENTS_URL}?${params}`);
    this.source = stream;
    // Handlers of a replaced stream do nothing, even if an event was already queued.
    const listen = (type, handler) => {
      stream.addEventListener(type, (event) => {
        if (stream === this.source) handler.call(this, event, stream);
      });
    };
    listen("open", this.handleOpen);
    listen("error", this.handleStreamError);
    listen("change", this.handleChange);
    listen("reset", this.handleReset);
    listen("closed", this.handleClosed);
    listen("status", this.handleServerStatus);
  }

  closeStream() {
    if (this.source === null) return;
    this.source.close();
    this.source = null;
  }

  handleOpen() {
    rowcast.reconnectAttempts = 0;
    this.setState("live");
  }

  // While readyState is CONNECTING the browser reconnects by itself and sends
  // Last-Event-ID. CLOSED means it gave up (for example on an HTTP error status
  // or a wrong Content-Type), so the page opens a new stream after a backoff delay.
  handleStreamError(event, stream) {
    this.setReconnecting();
    if (stream.readyState !== EventSource.CLOSED) return;

    this.closeStream();
    const delay = Math.min(STREAM_RETRY_MIN_MS * 2 ** (rowcast.reconnectAttempts - 1), STREAM_RETRY_MAX_MS);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.openStream(rowcast.lastEventId), delay);
  }

  handleChange(event) {
    let change;
    try {
      change = JSON.parse(event.data);
    } catch {
      this.resync("Reloading the table: a change event contained invalid JSON.");
      return;
    }
    rowcast.lastEventId = event.lastEventId || change.id || rowcast.lastEventId;
    this.bufferChange(change);
  }

  handleReset(event) {
    const reset = parseEventData(event);
    const detail = reset.message || reset.reason || "the server cannot resume from the last event ID";
    this.resync(`Reloading the table: ${detail}`);
  }

  // The server ended the stream (this tab fell too far behind, or the server is
  // shutting down). The browser reconnects by itself and resumes after Last-Event-ID.
  handleClosed(event) {
    const closed = parseEventData(event);
    const reason = typeof closed.reason === "string" ? closed.reason : "no reason given";
    this.showMessage(`The server closed the stream: ${reason}`);
  }

  // Shows the state of the server's binlog reader, which is separate from this page's connection.
  handleServerStatus(event) {
    const { serverStatus } = this.elements;
    const status = parseEventData(event);
    const state = typeof status.state === "string" ? status.state : "unknown";
    rowcast.serverState = state;
    serverStatus.dataset.state = state;
    serverStatus.textContent = status.message ? `Server: ${status.message}` : `Server: ${state}`;
    serverStatus.hidden = false;
  }

  // Buffers a change until its transaction is complete (txn.last === true).
  // A change without txn is handed over at once.
  bufferChange(change) {
    // A change from another transaction means the buffered one ended without a
    // txn.last flag reaching this page, so the buffer is handed over rather than held forever.
    if (this.pendingChanges.length > 0 && change.txn?.id !== this.pendingChanges[0].txn?.id) {
      this.flushChanges();
    }
    this.pendingChanges.push(change);
    if (!change.txn || change.txn.last === true) {
      this.flushChanges();
    }
  }

  flushChanges() {
    const batch = this.pendingChanges;
    this.pendingChanges = [];
    this.options.onBatch(batch);
    rowcast.appliedEvents += batch.length;
  }
}

function parseEventData(event) {
  try {
    return JSON.parse(event.data) ?? {};
  } catch {
    return {};
  }
}

// Returns the "message" of a JSON error body, or "" when there is none.
async function readServerMessage(response) {
  try {
    const body = await response.json();
    return typeof body?.message === "string" ? body.message : "";
  } catch {
    return "";
  }
}

function asSentence(text) {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}
