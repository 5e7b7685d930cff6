// Text for values, keys, times and changes, shared by the task page and the
// generic table page. Every function returns plain text for textContent.

// Maximum length of a value in a change log entry, in characters. Longer text
// ends in "…". Key values are never shortened, so an entry always names its row.
export const MAX_VALUE_CHARS = 60;

// Text shown without quotes in the change log: letters, digits and a few
// punctuation marks, as in ACTIVE, 21:20:21, 12.50 or 2024-05-01. The same
// rule as `rowcast tail`, so both read alike.
const BARE_TEXT = /^[\p{L}\p{N}_.:@/+-]+$/u;

// A column present in one row image but not in the other, after ALTER TABLE.
const MISSING_TEXT = "(missing)";

// Returns a cell's text: NULL for null, arrays and objects as compact JSON.
export function displayText(value) {
  if (value == null) return "NULL";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// Returns a value as it reads in a change log entry: NULL, a number, a bare
// word, or quoted text, shortened past `limit` characters.
export function showValue(value, limit = MAX_VALUE_CHARS) {
  if (value === undefined) return MISSING_TEXT;
  if (value === null) return "NULL";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return showText(typeof value === "string" ? value : JSON.stringify(value), limit);
}

function showText(text, limit) {
  // Counted in code points, so that a cut never splits a surrogate pair.
  const characters = [...text];
  const shortened = limit !== null && characters.length > limit
    ? characters.slice(0, limit - 1).join("") + "…"
    : text;
  if (BARE_TEXT.test(shortened) && shortened !== "NULL") return shortened;
  // JSON.stringify quotes the text and escapes quotes, backslashes and control characters.
  return JSON.stringify(shortened);
}

// Returns "name=value" pairs separated by spaces, with values shortened past `limit`.
export function showPairs(row, limit = MAX_VALUE_CHARS) {
  return Object.entries(row)
    .map(([name, value]) => `${showText(name, null)}=${showValue(value, limit)}`)
    .join(" ");
}

// Returns the key of a change as "Task_ID=3", or "(no key)".
export function showKey(change) {
  return showPairs(asRow(change.key), null) || "(no key)";
}

// Returns what a change did: for an update the changed columns as
// "Status: ACTIVE → REJECTED", for an insert or delete the row's other columns.
export function describeChange(change) {
  const before = asRow(change.before);
  const after = asRow(change.after);
  if (change.op === "update") return describeUpdate(before, after);

  const key = asRow(change.key);
  const row = change.op === "insert" ? after : before;
  const others = Object.fromEntries(Object.entries(row).filter(([name]) => !(name in key)));
  return showPairs(others);
}

function describeUpdate(before, after) {
  const names = [...Object.keys(after), ...Object.keys(before).filter((name) => !(name in after))];
  const changes = [];
  for (const name of names) {
    const oldValue = Object.hasOwn(before, name) ? before[name] : undefined;
    const newValue = Object.hasOwn(after, name) ? after[name] : undefined;
    if (sameValue(oldValue, newValue)) continue;
    changes.push(`${showText(name, null)}: ${showValue(oldValue)} → ${showValue(newValue)}`);
  }
  return changes.join(", ") || "(no column changed)";
}

function sameValue(a, b) {
  if (a === undefined || b === undefined) return a === b;
  return displayText(a) === displayText(b) && typeof a === typeof b;
}

function asRow(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : {};
}

// Returns the local time of day of a Date as HH:MM:SS (24-hour).
export function clockTime(date) {
  const parts = [date.getHours(), date.getMinutes(), date.getSeconds()];
  return parts.map((part) => String(part).padStart(2, "0")).join(":");
}

// Returns the commit time of a change, or null when ts_ms is missing or invalid.
export function commitDate(change) {
  if (!Number.isFinite(change.ts_ms)) return null;
  const date = new Date(change.ts_ms);
  return Number.isNaN(date.getTime()) ? null : date;
}

// Returns a <time> element that shows a date as HH:MM:SS.
export function createTimeElement(date, className = "") {
  const time = document.createElement("time");
  if (className) time.className = className;
  time.dateTime = date.toISOString();
  time.textContent = clockTime(date);
  return time;
}

// Orders two values for sorting by key. NULL comes first, then numbers by
// value, including numeric text such as DECIMAL "12.50" or a BIGINT beyond 2^53.
// Other text follows by code point, then arrays and objects by their JSON.
export function compareValues(a, b) {
  const rankA = valueRank(a);
  const rankB = valueRank(b);
  if (rankA !== rankB) return rankA - rankB;
  if (rankA === RANK.number) return compareNumbers(a, b);
  const textA = rankA === RANK.json ? JSON.stringify(a) : String(a);
  const textB = rankB === RANK.json ? JSON.stringify(b) : String(b);
  if (textA === textB) return 0;
  return textA < textB ? -1 : 1;
}

// Orders two arrays of key values column by column.
export function compareValueLists(a, b) {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index += 1) {
    const order = compareValues(a[index], b[index]);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

const RANK = { null: 0, number: 1, text: 2, json: 3 };
const NUMERIC_TEXT = /^-?\d+(\.\d+)?$/;
const INTEGER_TEXT = /^-?\d+$/;

function valueRank(value) {
  if (value == null) return RANK.null;
  if (typeof value === "number" || typeof value === "boolean") return RANK.number;
  if (typeof value === "string") return NUMERIC_TEXT.test(value) ? RANK.number : RANK.text;
  return RANK.json;
}

function compareNumbers(a, b) {
  const integerA = isInteger(a);
  const integerB = isInteger(b);
  // BigInt keeps integers beyond 2^53 exact, which the server sends as text.
  if (integerA && integerB) {
    const bigA = BigInt(typeof a === "string" ? a : Number(a));
    const bigB = BigInt(typeof b === "string" ? b : Number(b));
    if (bigA === bigB) return 0;
    return bigA < bigB ? -1 : 1;
  }
  const difference = Number(a) - Number(b);
  if (difference !== 0 && !Number.isNaN(difference)) return difference < 0 ? -1 : 1;
  const textA = String(a);
  const textB = String(b);
  if (textA === textB) return 0;
  return textA < textB ? -1 : 1;
}

function isInteger(value) {
  if (typeof value === "string") return INTEGER_TEXT.test(value);
  return Number.isSafeInteger(Number(value));
}
