"""The filter a stream's subscription applies to each change event, built once per stream.

Each subscriber calls its filter once per event, so with thousands of
subscribers its cost per call counts. A stream that takes every event gets
accept_every_event, which reading the log skips calling, and a table filter
remembers its verdict for each table.
"""

from __future__ import annotations

from cdc.events import ChangeEvent
from cdc.hub import EventFilter, accept_every_event
from cdc.tables import TableFilter


def build_event_filter(
    tables: TableFilter | None, operations: frozenset[str], watched: TableFilter
) -> EventFilter:
    """Return the filter for a stream of these tables (None: all) and operations (empty: all)."""
    if not operations and (tables is None or _covers(tables, watched)):
        return accept_every_event
    table_matches: dict[tuple[str, str], bool] = {}

    def accepts(event: ChangeEvent) -> bool:
        if operations and event.op.value not in operations:
            return False
        if tables is None:
            return True
        key = (event.db, event.table)
        matches = table_matches.get(key)
        if matches is None:
            matches = table_matches[key] = tables.matches(event.db, event.table)
        return matches

    return accepts


def _covers(tables: TableFilter, watched: TableFilter) -> bool:
    """Tell whether `tables` matches every table that `watched` can match.

    The reader and its catch-up readers only read watched tables, so such a
    stream takes every event. Filters from `table=` have no excluded tables;
    one that has some is never taken as covering.
    """
    if tables.excluded:
        return False
    for pattern in watched.patterns:
        db = pattern.split(".", 1)[0]
        if pattern not in tables.patterns and f"{db}.*" not in tables.patterns:
            return False
    return True
