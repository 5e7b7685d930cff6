"""A state subscription merges a lagging client's changes per row; a log one keeps all."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from cdc.coalesce import merge
from cdc.events import ChangeEvent, Operation
from cdc.position import BinlogPosition, EventId
from cdc.subscription import Subscription

_numbers = iter(range(1, 10**9))


def change(op: Operation, row_id: int, before: Any = None, after: Any = None,
           key_after: int | None = None) -> ChangeEvent:
    offset = next(_numbers) * 100
    before_image = None if op is Operation.INSERT else {"id": row_id, "v": before}
    after_image = None if op is Operation.DELETE else {"id": key_after or row_id, "v": after}
    keyed = after_image or before_image
    assert keyed is not None
    return ChangeEvent(
        id=EventId(BinlogPosition(1, offset, "binlog"), 1), op=op, db="d", table="t",
        key={"id": keyed["id"]}, before=before_image, after=after_image, ts_ms=0, server_id=1,
        file_name="binlog.000001", end_offset=offset + 50, txn_id=str(offset), txn_last=True,
    )


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (Operation.INSERT, Operation.UPDATE, (Operation.INSERT, None, 2)),
        (Operation.UPDATE, Operation.UPDATE, (Operation.UPDATE, 1, 2)),
        (Operation.UPDATE, Operation.DELETE, (Operation.DELETE, 1, None)),
        (Operation.DELETE, Operation.INSERT, (Operation.UPDATE, 1, 2)),
    ],
)
def test_merge_table(first: Operation, second: Operation, expected: tuple[Any, ...]) -> None:
    merged = merge(change(first, 7, before=1, after=1), change(second, 7, before=1, after=2))
    assert merged is not None
    operation, before, after = expected
    assert merged.op is operation
    assert (merged.before or {}).get("v") == before
    assert (merged.after or {}).get("v") == after


def test_insert_then_delete_vanishes() -> None:
    assert merge(change(Operation.INSERT, 7, after=1), change(Operation.DELETE, 7, before=1)) is None


def apply(table: dict[int, Any], event: ChangeEvent) -> None:
    if event.before is not None:
        table.pop(event.before["id"], None)
    if event.after is not None:
        table[event.after["id"]] = event.after["v"]


def random_history(count: int, seed: int) -> tuple[list[ChangeEvent], dict[int, Any]]:
    """Return count random changes over 30 rows and the table they produce."""
    rng = random.Random(seed)
    table: dict[int, Any] = {}
    events = []
    for value in range(count):
        row_id = rng.randint(1, 30)
        if row_id not in table:
            event = change(Operation.INSERT, row_id, after=value)
        elif rng.random() < 0.2:
            event = change(Operation.DELETE, row_id, before=table[row_id])
        elif rng.random() < 0.05 and (row_id + 100) not in table:
            event = change(Operation.UPDATE, row_id, before=table[row_id], after=value,
                           key_after=row_id + 100)
        else:
            event = change(Operation.UPDATE, row_id, before=table[row_id], after=value)
        apply(table, event)
        events.append(event)
    return events, table


def test_paused_state_subscriber_ends_with_table() -> None:
    async def scenario() -> None:
        events, final = random_history(10_000, seed=3)
        state = Subscription(1, lambda event: True, max_pending=10_000, coalesce=True)
        log = Subscription(2, lambda event: True, max_pending=10_000)
        for event in events:
            assert state.offer(event)
            assert log.offer(event)
        state_batch = await state.next_batch()
        log_batch = await log.next_batch()
        table: dict[int, Any] = {}
        for item in state_batch:
            assert isinstance(item, ChangeEvent)
            apply(table, item)
        assert table == final
        assert len(log_batch) == 10_000
        assert len(state_batch) < len(log_batch) // 20
        ids = [item.id for item in state_batch if isinstance(item, ChangeEvent)]
        assert ids == sorted(ids)

    asyncio.run(scenario())


def test_state_subscriber_resume_converges() -> None:
    async def scenario() -> None:
        events, final = random_history(2_000, seed=5)
        state = Subscription(1, lambda event: True, max_pending=10_000, coalesce=True)
        for event in events[:1_500]:
            state.offer(event)
        delivered = await state.next_batch()
        table: dict[int, Any] = {}
        for item in delivered[: len(delivered) // 2]:
            assert isinstance(item, ChangeEvent)
            apply(table, item)
            last = item.id
        for event in events:
            if event.id > last:
                apply(table, event)
        assert table == final

    asyncio.run(scenario())


def test_log_subscriber_keeps_every_change() -> None:
    async def scenario() -> None:
        log = Subscription(1, lambda event: True, max_pending=100)
        for _ in range(3):
            log.offer(change(Operation.UPDATE, 1, before=0, after=1))
        assert len(await log.next_batch()) == 3

    asyncio.run(scenario())
