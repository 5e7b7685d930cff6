// The lag indicator: how far this page is behind the database, measured as
// the browser's clock minus the commit time (ts_ms) of the latest applied change.

import { rowcast } from "./live-stream.js";

// Without a new change for this long the indicator shows "idle", because the
// lag of an old change would only grow with the time since the last write.
const IDLE_AFTER_MS = 5000;
const CHECK_INTERVAL_MS = 1000;

export class LagIndicator {
  constructor(element) {
    this.element = element;
    // performance.now() when the latest change with a commit time was applied.
    this.appliedAt = null;
    this.showIdle();
    setInterval(() => this.checkIdle(), CHECK_INTERVAL_MS);
  }

  // Measures the lag of the newest change of a batch that was just applied.
  // NOTE: ts_ms has whole seconds, so the value reads up to 1 s high, and it
  // is off by any difference between the browser's and the database's clocks.
  // A negative result (a browser clock behind the database's) shows as 0.
  record(changes) {
    const latest = changes.findLast((change) => Number.isFinite(change.ts_ms));
    if (latest === undefined) return;
    const lagMs = Math.max(0, Date.now() - latest.ts_ms);
    const seconds = Math.round(lagMs / 100) / 10;
    this.appliedAt = performance.now();
    rowcast.lagSeconds = seconds;
    this.element.dataset.state = "flowing";
    this.element.textContent = `lag ${seconds.toFixed(1)} s`;
  }

  // Shows the indicator only while the stream is live, because the lag is unknown otherwise.
  setLive(live) {
    this.element.hidden = !live;
  }

  checkIdle() {
    if (this.appliedAt !== null && performance.now() - this.appliedAt >= IDLE_AFTER_MS) {
      this.showIdle();
    }
  }

  showIdle() {
    this.appliedAt = null;
    rowcast.lagSeconds = null;
    this.element.dataset.state = "idle";
    this.element.textContent = "idle";
  }
}
