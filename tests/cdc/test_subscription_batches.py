"""A stream takes at most a limited batch of pending items, oldest first, losing none."""

from __future__ import annotations

import asyncio
import itertools

from cdc.events import ChangeEvent, Operation
from cdc.position import BinlogPosition, EventId
from cdc.subscription import EncodedChanges, Subscription

_offsets = itertools.count(1)


def update(row_id: int, value: int) -> ChangeEvent:
    offset = next(_offsets) * 100
    return ChangeEvent(
        id=EventId(BinlogPosition(1, offset, "binlog"), 1), op=Operation.UPDATE, db="d",
        table="t", key={"id": row_id}, before={"id": row_id, "v": value - 1},
        after={"id": row_id, "v": value}, ts_ms=0, server_id=1, file_name="binlog.000001",
        end_offset=offset + 50, txn_id=str(offset), txn_last=True, key_columns=("id",),
    )


def take_batches(subscription: Subscription, limit: int) -> list[list[object]]:
    """Return the batches of at most limit changes that empty the subscription."""

    async def take_all() -> list[list[object]]:
        batches = []
        while subscription.pending_count:
            batches.append(await subscription.next_batch(limit))
        return batches

    return asyncio.run(take_all())


def test_limited_batches_return_every_item_in_order() -> None:
    subscription = Subscription(1, lambda event: True, max_pending=100)
    events = [update(row_id, 1) for row_id in range(10)]
    for event in events:
        assert subscription.offer(event)

    batches = take_batches(subscription, 4)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert [item for batch in batches for item in batch] == events


def test_change_taken_in_a_batch_no_longer_merges() -> None:
    subscription = Subscription(1, lambda event: True, max_pending=100, coalesce=True)
    first, other = update(1, 1), update(2, 1)
    subscription.offer(first)
    subscription.offer(other)
    [taken] = asyncio.run(subscription.next_batch(1))
    assert taken is first
    # Row 1's change was sent, so its next change is sent on its own.
    # Row 2's change is still pending, so the next change of row 2 merges into it.
    later_first, later_other = update(1, 2), update(2, 2)
    subscription.offer(later_first)
    subscription.offer(later_other)
    pending = subscription.pending_items()
    assert len(pending) == 2
    assert pending[0] is later_first
    assert isinstance(pending[1], ChangeEvent) and pending[1].after == {"id": 2, "v": 2}
    assert pending[1].before == {"id": 2, "v": 0}


def offered_one_by_one(subscription: Subscription, events: list[ChangeEvent]) -> list[object]:
    for event in events:
        subscription.offer(event, backlog=True)
    return subscription.pending_items()


def test_backlog_run_matches_single_offers() -> None:
    events = [update(row_id % 3, value) for value, row_id in enumerate(range(12), start=1)]
    after = events[4].id
    cases = [
        {},
        {"coalesce": True},
        {"accepts": lambda event: event.key["id"] != 1},
    ]
    for options in cases:
        accepts = options.get("accepts", lambda event: True)
        coalesce = bool(options.get("coalesce", False))
        single = Subscription(1, accepts, max_pending=5, coalesce=coalesce)
        single.after = after
        run = Subscription(2, accepts, max_pending=5, coalesce=coalesce)
        run.after = after

        run.offer_backlog(events)

        expected = offered_one_by_one(single, events)
        assert [item.id for item in run.pending_items()] == \
            [item.id for item in expected], options  # type: ignore[attr-defined]
        assert run.pending_count == single.pending_count
        # Backlog items never count against max_pending, so the run is not dropped.
        assert run.offer(update(7, 99))


def test_backlog_run_before_after_skipped() -> None:
    events = [update(1, value) for value in range(3)]
    subscription = Subscription(1, lambda event: True, max_pending=5)
    subscription.after = events[-1].id
    subscription.offer_backlog(events)
    assert subscription.pending_count == 0


def test_encoded_runs_batch_by_changes() -> None:
    subscription = Subscription(1, lambda event: True, max_pending=5)
    runs = [EncodedChanges(b"a" * size, size) for size in (3, 2, 4, 9, 1)]
    subscription.offer_encoded(runs)
    assert subscription.pending_count == 19

    batches = take_batches(subscription, 5)
    # At most five changes a batch, except a run larger than that, which goes alone.
    assert batches == [runs[:2], runs[2:3], runs[3:4], runs[4:]]
    assert subscription.pending_count == 0
    # Runs are backlog, so they do not count toward max_pending.
    assert all(subscription.offer(update(row_id, 1)) for row_id in range(5))
    assert not subscription.offer(update(9, 1))
