// The rows of a live table: a model of the current rows by key, and the <tbody>
// that shows them sorted by key. Changes mark what they touched: a changed cell
// flashes and gets a "was: <old value>" title, a new row is tinted, a deleted
// row fades out before it is removed. Every value is written with textContent.

import { compareValueLists, displayText } from "./format.js";

// A deleted row is removed this long after its fade starts. Keep it just above
// the duration of the "removing" animation in style.css (300 ms).
const ROW_REMOVE_DELAY_MS = 350;

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

export class RowTable {
  // options:
  //   tbody        the <tbody> of the rows
  //   emptyState   a <tbody> shown while no row is shown, with emptyText as its cell
  //   emptyText    the cell of emptyState
  //   columns      column names in display order
  //   keyColumns   primary key columns. When empty, all columns form the key and
  //                equal rows may repeat, as in a table without a primary key
  //   decorateRow  (tr, row, keyValues) sets the row's data attributes
  //   fillCell     (td, column, value) writes a cell, by default as displayText(value)
  //   matches      (row) returns false for rows that filters hide
  //   emptyTexts   {noRows, noMatches}: texts of emptyState once loaded
  constructor(options) {
    this.options = options;
    this.tbody = options.tbody;
    this.columns = options.columns ?? [];
    this.keyColumns = options.keyColumns ?? [];
    this.loaded = false;
    // All rows, whether or not the filters show them: map key -> {row, keyValues}.
    this.model = new Map();
    // Rows in the table: map key -> {tr, row, keyValues}. Rows that are fading out are not here.
    this.rendered = new Map();
    // Rows that are fading out after a delete: map key -> tr.
    this.fading = new Map();
  }

  get size() {
    return this.model.size;
  }

  get shownCount() {
    return this.rendered.size;
  }

  *rows() {
    for (const { row } of this.model.values()) yield row;
  }

  // Sets new columns and key columns, and drops every row, because the rows
  // were built for the old columns. Load the rows again with replaceAll.
  setColumns(columns, keyColumns) {
    this.columns = columns;
    this.keyColumns = keyColumns;
    this.model.clear();
    this.rendered.clear();
    this.fading.clear();
    this.tbody.replaceChildren();
  }

  // Replaces all rows, for example with a snapshot. With highlight, rows and
  // cells that differ from the rows before are marked like live changes.
  replaceAll(rows, highlight) {
    const keys = new Set(this.model.keys());
    this.model.clear();
    for (const row of rows) {
      const key = this.addToModel(row);
      if (key !== null) keys.add(key);
    }
    this.loaded = true;
    this.render(keys, highlight);
  }

  // Applies the changes of one transaction, then updates the DOM once.
  applyChanges(changes) {
    const keys = new Set();
    for (const change of changes) {
      for (const key of this.applyToModel(change)) keys.add(key);
    }
    this.render(keys, true);
  }

  // Renders every row again, for example after the filters changed.
  renderAll(highlight) {
    this.render(new Set([...this.model.keys(), ...this.rendered.keys()]), highlight);
  }

  // Returns the key values of a row in key column order, or null when the row
  // is not an object or lacks a key column. Without key columns, every column
  // of the table is part of the key.
  keyValuesOf(row) {
    if (row === null || typeof row !== "object" || Array.isArray(row)) return null;
    if (this.keyColumns.length === 0) {
      return this.columns.map((column) => row[column] ?? null);
    }
    if (!this.keyColumns.every((column) => Object.hasOwn(row, column))) return null;
    return this.keyColumns.map((column) => row[column]);
  }

  // ---- Model ----

  // Applies one change to the model and returns the map keys it touched. An
  // update may change the key, so it removes the row under the old key and
  // stores the new one.
  applyToModel(change) {
    const touched = [];
    if (change.op === "update" || change.op === "delete") {
      const key = this.removeFromModel(change.before) ?? this.removeFromModel(change.key);
      if (key !== null) touched.push(key);
    }
    if (change.op === "insert" || change.op === "update") {
      const key = this.addToModel(change.after);
      if (key !== null) touched.push(key);
    }
    return touched;
  }

  // Map key of a row: the JSON of its key values. Without key columns, equal
  // rows get "#0", "#1", … after it, so each copy has its own key.
  addToModel(row) {
    const keyValues = this.keyValuesOf(row);
    if (keyValues === null) return null;
    const base = JSON.stringify(keyValues);
    let key = base;
    if (this.keyColumns.length === 0) {
      let copy = 0;
      while (this.model.has(`${base}#${copy}`)) copy += 1;
      key = `${base}#${copy}`;
    }
    this.model.set(key, { row, keyValues });
    return key;
  }

  // Removes the row with the key values of `row`, the last copy of equal rows
  // when there is no key. Returns its map key, or null when no such row exists.
  removeFromModel(row) {
    const keyValues = this.keyValuesOf(row);
    if (keyValues === null) return null;
    const base = JSON.stringify(keyValues);
    let key = base;
    if (this.keyColumns.length === 0) {
      let copy = 0;
      while (this.model.has(`${base}#${copy + 1}`)) copy += 1;
      key = `${base}#${copy}`;
    }
    return this.model.delete(key) ? key : null;
  }

  // ---- Rendering ----

  // Brings the table rows for the given keys in line with the model and the filters.
  // With highlight, new rows, changed cells and removed rows are marked for animation.
  render(keys, highlight) {
    const updates = [];
    for (const key of keys) {
      const stored = this.model.get(key);
      const entry = this.rendered.get(key);
      const visible = stored !== undefined && (this.options.matches?.(stored.row) ?? true);

      if (!visible) {
        if (entry) {
          this.rendered.delete(key);
          this.removeRow(key, entry.tr, highlight);
        }
      } else if (entry) {
        updates.push({ entry, row: stored.row });
      } else {
        this.dropFadingRow(key);
        const tr = this.createRow(stored.row, stored.keyValues);
        if (highlight) tr.classList.add("inserted");
        this.rendered.set(key, { tr, row: stored.row, keyValues: stored.keyValues });
      }
    }
    this.updateRows(updates, highlight);
    this.placeRows();
    this.updateEmptyState();
  }

  createRow(row, keyValues) {
    const tr = document.createElement("tr");
    this.options.decorateRow(tr, row, keyValues);
    for (const column of this.columns) {
      const td = document.createElement("td");
      td.dataset.column = column;
      this.fillCell(td, column, row[column]);
      tr.append(td);
    }
    return tr;
  }

  fillCell(td, column, value) {
    td.classList.toggle("null", value == null);
    if (this.options.fillCell) {
      this.options.fillCell(td, column, value);
    } else {
      td.textContent = displayText(value);
    }
  }

  // Writes changed cells. With highlight, each changed cell gets the class
  // "changed" and a "was: <old value>" title, replacing the marks of the row's previous change.
  updateRows(updates, highlight) {
    const changedRows = [];
    for (const { entry, row } of updates) {
      const oldRow = entry.row;
      const indexes = [];
      this.columns.forEach((column, index) => {
        if (displayText(oldRow[column]) !== displayText(row[column])) indexes.push(index);
      });
      if (indexes.length > 0) changedRows.push({ tr: entry.tr, oldRow, row, indexes });
      entry.row = row;
    }
    if (highlight) this.clearMarks(changedRows.map(({ tr }) => tr));

    for (const { tr, oldRow, row, indexes } of changedRows) {
      for (const index of indexes) {
        const column = this.columns[index];
        const td = tr.cells[index];
        this.fillCell(td, column, row[column]);
        if (highlight) {
          td.classList.add("changed");
          td.title = `was: ${displayText(oldRow[column])}`;
        }
      }
    }
  }

  // Removes the marks of earlier changes. Forcing a style recalculation in
  // between lets the same animation class start again on the same element.
  clearMarks(rows) {
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
    if (cleared) void this.tbody.offsetWidth;
  }

  // Fades a row out and removes it from the DOM ROW_REMOVE_DELAY_MS later.
  // Without animate, or when the user prefers reduced motion, it is removed at once.
  removeRow(key, tr, animate) {
    if (!animate || reducedMotion.matches) {
      tr.remove();
      return;
    }
    tr.classList.add("removing");
    tr.setAttribute("aria-hidden", "true");
    this.fading.set(key, tr);
    setTimeout(() => {
      tr.remove();
      if (this.fading.get(key) === tr) this.fading.delete(key);
    }, ROW_REMOVE_DELAY_MS);
  }

  // Removes a fading row at once, so a row inserted again under the same key is the only one.
  dropFadingRow(key) {
    const tr = this.fading.get(key);
    if (tr === undefined) return;
    tr.remove();
    this.fading.delete(key);
  }

  // Moves rendered rows into key order, touching only rows that are out of place.
  // Fading rows stay where they are until they are removed.
  placeRows() {
    const ordered = [...this.rendered.entries()].sort(compareEntries);
    let next = skipFadingRows(this.tbody.firstElementChild);
    for (const [, { tr }] of ordered) {
      if (tr === next) {
        next = skipFadingRows(tr.nextElementSibling);
      } else {
        this.tbody.insertBefore(tr, next);
      }
    }
  }

  updateEmptyState() {
    const { emptyState, emptyText, emptyTexts } = this.options;
    emptyState.hidden = this.rendered.size > 0;
    if (!this.loaded || !emptyTexts) return;
    emptyText.textContent = this.model.size === 0 ? emptyTexts.noRows : emptyTexts.noMatches;
  }
}

// Orders rendered rows by key values, and copies of an equal row by their map key.
function compareEntries([keyA, entryA], [keyB, entryB]) {
  const order = compareValueLists(entryA.keyValues, entryB.keyValues);
  if (order !== 0) return order;
  if (keyA === keyB) return 0;
  return keyA < keyB ? -1 : 1;
}

function skipFadingRows(tr) {
  let current = tr;
  while (current !== null && current.classList.contains("removing")) {
    current = current.nextElementSibling;
  }
  return current;
}
