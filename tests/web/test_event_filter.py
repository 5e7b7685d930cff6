"""A stream's event filter takes exactly the tables and operations the client chose."""

from __future__ import annotations

import pytest

from cdc.events import ChangeEvent, Operation
from cdc.position import BinlogPosition, EventId
from cdc.tables import TableFilter
from web.event_filter import build_event_filter


def change(table: str, op: Operation = Operation.UPDATE) -> ChangeEvent:
    db, name = table.split(".")
    return ChangeEvent(
        id=EventId(BinlogPosition(1, 100, "binlog"), 1), op=op, db=db, table=name,
        key={"id": 1}, before={"id": 1}, after={"id": 1}, ts_ms=0, server_id=1,
        file_name="binlog.000001", end_offset=150, txn_id="1", txn_last=True,
    )


WATCHED = TableFilter.parse("robots.*,shop.orders")
EVENTS = [change("robots.task"), change("robots.robot"), change("shop.orders"),
          change("robots.task", Operation.INSERT), change("shop.orders", Operation.DELETE)]


@pytest.mark.parametrize(("tables", "operations", "expected"), [
    (None, "", [True, True, True, True, True]),
    ("robots.*,shop.orders", "", [True, True, True, True, True]),
    ("robots.*,shop.*", "", [True, True, True, True, True]),
    ("robots.task", "", [True, False, False, True, False]),
    ("robots.*", "", [True, True, False, True, False]),
    ("shop.orders", "", [False, False, True, False, True]),
    (None, "insert,delete", [False, False, False, True, True]),
    ("robots.*,shop.orders", "update", [True, True, True, False, False]),
    ("robots.task", "insert", [False, False, False, True, False]),
])
def test_filter_verdicts(tables: str | None, operations: str, expected: list[bool]) -> None:
    table_filter = TableFilter.parse(tables) if tables else None
    chosen = frozenset(name for name in operations.split(",") if name)
    accepts = build_event_filter(table_filter, chosen, WATCHED)
    # Twice, because the second verdict for a table comes from the filter's memory.
    assert [accepts(event) for event in EVENTS] == expected
    assert [accepts(event) for event in EVENTS] == expected
