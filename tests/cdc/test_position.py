"""Binlog positions and event ids order numerically and survive a round trip as text."""

from __future__ import annotations

import pytest

from cdc.errors import InvalidEventId
from cdc.position import BinlogPosition, EventId


def test_position_orders_by_file_number() -> None:
    assert BinlogPosition.from_file("binlog.999999", 900) < BinlogPosition.from_file("binlog.1000000", 4)


def test_position_keeps_six_digit_file_names() -> None:
    assert BinlogPosition.from_file("mysql-bin.000012", 4).file_name == "mysql-bin.000012"
    assert BinlogPosition.from_file("mysql-bin.1000000", 4).file_name == "mysql-bin.1000000"


def test_position_rejects_file_without_number() -> None:
    with pytest.raises(ValueError, match="Invalid binlog file name 'binlog'"):
        BinlogPosition.from_file("binlog", 4)


def test_event_id_round_trips() -> None:
    event_id = EventId(BinlogPosition.from_file("binlog.000003", 756, "1f2e3d4c"), 2)
    parsed = EventId.parse(str(event_id), "binlog")
    assert parsed == event_id
    assert str(event_id) == "1f2e3d4c-0000000003-000000000756-0000000002"
    assert parsed.position.file_name == "binlog.000003"
    assert parsed.position.source == "1f2e3d4c"


def test_event_id_text_sorts_like_ids() -> None:
    ids = [
        EventId(BinlogPosition(2, 9000, "b"), 1),
        EventId(BinlogPosition(3, 4, "b"), 0),
        EventId(BinlogPosition(3, 4, "b"), 1),
        EventId(BinlogPosition(3, 4, "b"), 12),
        EventId(BinlogPosition(3, 120, "b"), 1),
    ]
    assert sorted(ids) == ids
    assert sorted(str(event_id) for event_id in ids) == [str(event_id) for event_id in ids]


def test_boundary_sorts_before_its_transaction() -> None:
    position = BinlogPosition(3, 4, "b")
    assert EventId.boundary(position) < EventId(position, 1)
    assert EventId(BinlogPosition(3, 3, "b"), 99) < EventId.boundary(position)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1-2-3", "0000000a-1-2-3-4", "0000000a-0000000001-000000000004-x",
     "0000000A-1-2-3", "0000000a--1-2-3", "0000000a-1 -2-3"],
)
def test_event_id_rejects_malformed_text(text: str) -> None:
    with pytest.raises(InvalidEventId, match="Invalid event id"):
        EventId.parse(text, "binlog")
