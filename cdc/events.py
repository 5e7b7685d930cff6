"""The change event: one row change of one table, with its place in the binlog."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from cdc.position import EventId

Row = dict[str, Any]


class Operation(str, enum.Enum):
    """The kind of row change."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(slots=True)
class ChangeEvent:
    """One row change, with JSON-ready before and after images.

    A change event is not changed after the reader hands it over: every
    subscriber receives the same object. It is not frozen only because
    creating a frozen dataclass costs several times more, and the reader
    creates one for every row.

    `key` contains the primary key columns of the changed row (of the after image
    for inserts and updates, of the before image for deletes), and
    `key_columns` names them. A table without a primary key has empty
    `key_columns`, and `key` is then the whole row image. `txn_last` is true
    for the last change of its transaction. `missing_before` and
    `missing_after` name the columns the server did not log in each image
    (binlog_row_image MINIMAL or NOBLOB); they are empty for full images.
    `wire` caches the event's encoded forms for the web layer, so that
    thousands of subscribers share one encoding; copies start without it.
    """

    id: EventId
    op: Operation
    db: str
    table: str
    key: Row
    before: Row | None
    after: Row | None
    ts_ms: int
    server_id: int
    file_name: str
    end_offset: int
    txn_id: str
    txn_last: bool
    key_columns: tuple[str, ...] = ()
    missing_before: tuple[str, ...] = ()
    missing_after: tuple[str, ...] = ()
    wire: Any = field(default=None, init=False, compare=False, repr=False)

    @property
    def qualified_table(self) -> str:
        return f"{self.db}.{self.table}"

    def with_last(self, txn_last: bool) -> ChangeEvent:
        """Return a copy with the transaction-end flag set."""
        return dataclasses.replace(self, txn_last=txn_last)
