// The change log panel and the "Last change" line. The log lists the latest
// change events, newest first: commit time, operation, key, and what changed.
// It is not a live region, so screen readers do not announce every entry.

import { commitDate, createTimeElement, describeChange, showKey } from "./format.js";

export const MAX_LOG_ENTRIES = 100;

export class ChangeLog {
  // list is the <ol> of entries, and empty a paragraph shown while the list is
  // empty. toggle is a button with aria-controls that shows and hides body.
  constructor({ list, empty, toggle, body }) {
    this.list = list;
    this.empty = empty;
    this.toggle = toggle;
    this.body = body;
    this.toggle.addEventListener("click", () => {
      this.setExpanded(this.toggle.getAttribute("aria-expanded") !== "true");
    });
  }

  setExpanded(expanded) {
    this.toggle.setAttribute("aria-expanded", String(expanded));
    this.body.hidden = !expanded;
  }

  // Adds the changes of one transaction. The last change of the batch is the
  // newest, so it ends up first. Entries beyond MAX_LOG_ENTRIES are dropped.
  add(changes) {
    const newest = changes.slice(-MAX_LOG_ENTRIES).reverse();
    const fragment = document.createDocumentFragment();
    for (const change of newest) fragment.append(createEntry(change));
    this.list.prepend(fragment);
    while (this.list.children.length > MAX_LOG_ENTRIES) {
      this.list.lastElementChild.remove();
    }
    // An empty list stays hidden, so that keyboard focus does not stop on it.
    this.list.hidden = this.list.children.length === 0;
    this.empty.hidden = !this.list.hidden;
  }
}

function createEntry(change) {
  const op = String(change.op);
  const item = document.createElement("li");
  item.className = "log-entry";
  item.dataset.op = op;
  item.dataset.eventId = String(change.id ?? "");
  if (isObject(change.key)) item.dataset.key = JSON.stringify(Object.values(change.key));

  const date = commitDate(change);
  const time = date ? createTimeElement(date, "log-time") : createText("span", "log-time", "--:--:--");
  const opLabel = createText("span", `log-op op-${cssName(op)}`, op);
  const key = createText("span", "log-key", showKey(change));
  const detail = createText("span", "log-detail", describeChange(change));
  // The spaces keep the entry readable as one line of text, for example when copied.
  item.append(time, " ", opLabel, " ", key, " ", detail);
  return item;
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function createText(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

// An operation outside insert, update and delete gets a neutral style; the raw
// value never becomes a class name.
function cssName(op) {
  return ["insert", "update", "delete"].includes(op) ? op : "other";
}

// Writes "Last change: update of Task_ID=3 at 21:57:47" into `element`, for the
// newest change of a batch. The time is the commit time, or now when the event has none.
export function showLastChange(element, changes) {
  const change = changes[changes.length - 1];
  if (change === undefined) return;
  const when = commitDate(change) ?? new Date();
  const parts = [`Last change: ${String(change.op)} of ${showKey(change)} at `, createTimeElement(when)];
  if (changes.length > 1) parts.push(` (${changes.length} changes in one transaction)`);
  element.replaceChildren(...parts);
  element.dataset.lastOp = String(change.op);
}
