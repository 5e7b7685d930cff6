"""Parse and validate the query parameters shared by the stream endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import QueryParams

from cdc.errors import ConfigurationError, InvalidEventId
from cdc.events import Operation
from cdc.hub import EventFilter
from cdc.position import EventId
from cdc.tables import TableFilter
from web.event_filter import build_event_filter

_OPERATIONS = {operation.value for operation in Operation}


class InvalidParameter(ValueError):
    """A query parameter has a value rowcast does not accept."""

    def __init__(self, parameter: str, value: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"error": "invalid_parameter", "parameter": self.parameter,
                "value": self.value, "message": self.message}


@dataclass(frozen=True)
class StreamRequest:
    """A client's subscription: tables, operations and the id to resume after."""

    tables: TableFilter | None
    operations: frozenset[str]
    after: EventId | None
    # The filter of `tables` and `operations` that the hub applies to each event.
    accepts: EventFilter = field(compare=False, repr=False)
    # True for `mode=state`: merge a lagging client's pending changes per row.
    coalesce: bool = False


def parse_stream_request(
    params: QueryParams, last_event_id_header: str | None, watched: TableFilter, basename: str
) -> StreamRequest:
    """Read `table`, `op`, `mode` and `last_event_id`; Last-Event-ID wins over the query."""
    tables = _parse_tables(params.getlist("table"), watched)
    operations = _parse_operations(params.getlist("op"))
    return StreamRequest(
        tables=tables,
        operations=operations,
        after=_parse_after(last_event_id_header, params.get("last_event_id"), basename),
        accepts=build_event_filter(tables, operations, watched),
        coalesce=_parse_mode(params.get("mode")),
    )


def _parse_mode(value: str | None) -> bool:
    if value is None or value == "log":
        return False
    if value == "state":
        return True
    raise InvalidParameter(
        "mode", value[:40],
        f"Unknown mode {value[:40]!r}: use log (every change, the default) or state "
        "(changes to one row may be merged while the client lags).",
    )


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _parse_tables(values: list[str], watched: TableFilter) -> TableFilter | None:
    names = _split(values)
    if not names:
        return None
    for name in names:
        _check_table(name, watched)
    return TableFilter(tuple(names))


def _check_table(name: str, watched: TableFilter) -> None:
    try:
        TableFilter.parse(name)
    except ConfigurationError as error:
        raise InvalidParameter("table", name, str(error)) from None
    db, table = name.split(".", 1)
    if table == "*" and db in watched.databases:
        return
    if table != "*" and watched.matches(db, table):
        return
    raise InvalidParameter(
        "table", name,
        f"Table {name!r} is not watched by this server. Watched tables: {watched}.",
    )


def _parse_operations(values: list[str]) -> frozenset[str]:
    operations = _split(values)
    for operation in operations:
        if operation not in _OPERATIONS:
            raise InvalidParameter(
                "op", operation,
                f"Unknown operation {operation!r}: use insert, update or delete "
                "(repeat the parameter or separate values with commas).",
            )
    return frozenset(operations)


def _parse_after(header: str | None, query: str | None, basename: str) -> EventId | None:
    parameter, text = ("Last-Event-ID", header) if header else ("last_event_id", query)
    if not text:
        return None
    try:
        return EventId.parse(text.strip(), basename)
    except InvalidEventId as error:
        raise InvalidParameter(parameter, text[:80], str(error)) from None
