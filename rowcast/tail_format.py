"""Turn change events into the lines `rowcast tail` prints: readable text or compact JSON.

Every value, name and server message is escaped before it reaches the terminal,
so a row cannot send control sequences such as ESC or a newline of its own.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

# Maximum length of a value shown in a line, in characters; longer text ends in "…".
# Key values are never shortened, so a line always names its row.
MAX_VALUE_CHARS = 60

_OP_COLOURS = {"insert": "32", "update": "33", "delete": "31"}  # green, yellow, red
_DIM = "2"
_NO_TIME = "--:--:--"
# Text shown without quotes: letters, digits and a few punctuation marks, as in
# ACTIVE, 21:20:21, 12.50 or 2024-05-01. Anything else is quoted and escaped.
_BARE_TEXT = re.compile(r"[\w.:@/+-]+")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class _Missing:
    """A column absent from one row image, after a column was added or dropped."""

    def __repr__(self) -> str:
        return "(missing)"


MISSING = _Missing()


@dataclass(frozen=True)
class Style:
    """The look of human lines: ANSI colours or none, and the arrow of an update."""

    colour: bool
    arrow: str = "→"

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text


def choose_style(stream: TextIO, environ: Mapping[str, str]) -> Style:
    """Colour only a terminal, unless NO_COLOR is set (https://no-color.org) or TERM is dumb."""
    colour = stream.isatty() and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"
    arrow = "→" if _can_encode(stream, "→…") else "->"
    return Style(colour=colour, arrow=arrow)


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def escape(text: str, quote: bool = False) -> str:
    """Replace backslashes and non-printable characters by escapes; with quote also `"`."""
    return "".join(_escape_char(char, quote) for char in text)


def _escape_char(char: str, quote: bool) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if quote and char == '"':
        return '\\"'
    # isprintable() is False for control, format (such as U+202E, which reverses
    # the text after it), surrogate, private-use, unassigned and separator
    # characters other than the space.
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def show_text(text: str, limit: int | None = MAX_VALUE_CHARS) -> str:
    """Return text bare when it is a plain word, else quoted and escaped; shorten past limit."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    if _BARE_TEXT.fullmatch(text) and text != "NULL":
        return text
    return '"' + escape(text, quote=True) + '"'


def show_value(value: Any, limit: int | None = MAX_VALUE_CHARS) -> str:
    """Return a column value as it reads in a line: NULL, a number or text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return show_text(value, limit)
    if value is MISSING:
        return repr(value)
    return show_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), limit)


def commit_time(ts_ms: Any) -> str:
    """Return the local time of day of a commit time in milliseconds, as HH:MM:SS."""
    if not isinstance(ts_ms, int) or isinstance(ts_ms, bool):
        return _NO_TIME
    try:
        return datetime.fromtimestamp(ts_ms / 1000).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return _NO_TIME


def format_change(event: Mapping[str, Any], style: Style) -> str:
    """Return one line: time, operation, db.table, key, and what changed."""
    op = str(event.get("op", "?"))
    parts = [
        style.paint(commit_time(event.get("ts_ms")), _DIM),
        style.paint(f"{escape(op):<6}", _OP_COLOURS.get(op, "1")),
        f"{show_text(str(event.get('db', '?')))}.{show_text(str(event.get('table', '?')))}",
    ]
    key = _row(event.get("key"))
    parts.append(_pairs(key, limit=None) or "(no key)")
    details = _details(op, key, _row(event.get("before")), _row(event.get("after")), style)
    if details:
        parts.append(" " + details)
    return " ".join(parts)


def _row(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pairs(row: Mapping[str, Any], limit: int | None = MAX_VALUE_CHARS) -> str:
    return " ".join(f"{show_text(name)}={show_value(value, limit)}" for name, value in row.items())


def _details(op: str, key: Mapping[str, Any], before: dict[str, Any], after: dict[str, Any],
             style: Style) -> str:
    if op == "update":
        return _changed_columns(before, after, style)
    row = after if op == "insert" else before
    return _pairs({name: value for name, value in row.items() if name not in key})


def _changed_columns(before: dict[str, Any], after: dict[str, Any], style: Style) -> str:
    names = list(after) + [name for name in before if name not in after]
    changes = [
        f"{show_text(name)}: {show_value(before.get(name, MISSING))} {style.arrow} "
        f"{show_value(after.get(name, MISSING))}"
        for name in names
        if before.get(name, MISSING) != after.get(name, MISSING)
    ]
    return ", ".join(changes) or "(no column changed)"


def json_line(event: Mapping[str, Any]) -> str:
    """Return the event as one compact JSON line that a terminal shows as plain text."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    # json.dumps escapes only U+0000 to U+001F. The other non-printable
    # characters can only occur inside strings, where a \u escape is valid JSON.
    return "".join(char if char.isprintable() else _json_escape(char) for char in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class Output:
    """The writer of changes to stdout and messages to stderr, flushing each line for pipes."""

    def __init__(self, out: TextIO, err: TextIO, json_lines: bool, style: Style) -> None:
        self._out = out
        self._err = err
        self._json_lines = json_lines
        self._style = style

    def change(self, event: dict[str, Any]) -> None:
        line = json_line(event) if self._json_lines else format_change(event, self._style)
        self._out.write(line + "\n")
        self._out.flush()

    def message(self, text: str) -> None:
        self._err.write(f"rowcast: {escape(text)}\n")
        self._err.flush()


def escape_unencodable(*streams: TextIO) -> None:
    """Make streams write \\u escapes for characters their encoding lacks, instead of failing."""
    for stream in streams:
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
