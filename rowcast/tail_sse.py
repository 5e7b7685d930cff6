"""Parse a text/event-stream body into Server-Sent Events, as `rowcast tail` reads them.

The rules follow the WHATWG HTML standard, section "Interpreting an event
stream": a blank line ends an event, lines starting with ":" are comments, and
several `data` lines join with newlines. `retry` is ignored because `rowcast
tail` chooses its own reconnection delays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its type, its data, and its own `id` field if it had one."""

    event: str
    data: str
    id: str | None = None


def parse_events(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Yield each event of a stream given as lines without their line endings."""
    event_type = ""
    data: list[str] = []
    event_id: str | None = None
    for line in lines:
        if not line:
            if data:
                yield SseEvent(event_type or "message", "\n".join(data), event_id)
            event_type, data, event_id = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event_type = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            event_id = value
