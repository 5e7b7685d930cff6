"""The options of `rowcast tail`: which server to read, what to show, and where to start."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import httpx

from cdc.errors import InvalidEventId
from cdc.events import Operation
from cdc.position import EventId

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class TailSettings:
    """The options of one tail: /events URL, filters, id to start after, output form."""

    events_url: str
    tables: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    since: str | None = None
    json_lines: bool = False
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> TailSettings:
        """Read the parsed options; raise ValueError for a URL that is not http(s), a bad --op or --since."""
        return cls(
            events_url=events_url(arguments.url),
            tables=tuple(arguments.table or ()),
            operations=operations(arguments.op or ()),
            since=since_id(arguments.since),
            json_lines=arguments.json,
            token=arguments.token or None,
        )

    def query(self) -> httpx.QueryParams:
        params: dict[str, list[str]] = {"table": list(self.tables), "op": list(self.operations)}
        if self.since:
            params["last_event_id"] = [self.since]
        return httpx.QueryParams(params)


def operations(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return the --op names; raise ValueError for one that is not an operation."""
    known = [operation.value for operation in Operation]
    for name in names:
        if name not in known:
            raise ValueError(f"invalid --op {name[:40]!r}: use insert, update or delete "
                             "(repeat --op or separate them with commas)")
    return tuple(names)


def since_id(text: str | None) -> str | None:
    """Return the --since event id, or None without one; raise ValueError when it is malformed.

    Only the form is checked here: the server checks whether it issued the id.
    """
    if not text:
        return None
    try:
        # The binlog basename is the server's to know; any one does for checking the form.
        EventId.parse(text.strip(), "binlog")
    except InvalidEventId:
        raise ValueError(
            f"invalid --since {text[:80]!r}: expected an event id that rowcast sent, such as "
            "1f2e3d4c-0000000002-000000000756-0000000001 (the `id:` line of a change, or the "
            "`id` of a JSON line); leave --since out to start from now") from None
    return text.strip()


def events_url(text: str) -> str:
    """Return the /events URL of a server URL; a URL that ends in /events stays as it is."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise ValueError(f"invalid URL {text!r} ({error}): use http://HOST:PORT, "
                         f"for example {DEFAULT_URL}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"invalid URL {text!r}: use http://HOST:PORT, for example {DEFAULT_URL}")
    path = url.path.rstrip("/")
    if not path.endswith("/events"):
        path += "/events"
    return str(url.copy_with(path=path))
