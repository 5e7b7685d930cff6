"""Subscribers read live items from one shared log, each at its own position."""

from __future__ import annotations

import asyncio

import pytest

from cdc.change_log import ChangeLog
from cdc.events import ChangeEvent, Operation
from cdc.hub import ChangeHub, HubSettings, Notice, accept_every_event
from cdc.position import BinlogPosition, EventId


def position(offset: int) -> BinlogPosition:
    return BinlogPosition(1, offset, "binlog")


def change(offset: int, table: str = "task") -> ChangeEvent:
    return ChangeEvent(
        id=EventId(position(offset), 1), op=Operation.UPDATE, db="robots", table=table,
        key={"id": offset}, before={"id": offset}, after={"id": offset}, ts_ms=0, server_id=1,
        file_name="binlog.000001", end_offset=offset + 50, txn_id=str(offset), txn_last=True,
    )


def publish(hub: ChangeHub, *offsets: int, table: str = "task") -> list[ChangeEvent]:
    events = []
    for offset in offsets:
        event = change(offset, table)
        hub.publish([event], position(offset + 50))
        events.append(event)
    return events


def test_log_trims_in_steps() -> None:
    log: ChangeLog[int] = ChangeLog(capacity=4)
    log.append(range(5))
    assert (log.start, log.end) == (0, 5)
    assert log.read(3, 10) == [3, 4]
    assert log.trim_start() is None
    log.append([5])
    assert log.trim_start() == 2
    log.trim(2)
    assert log.read(2, 2) == [2, 3]
    with pytest.raises(IndexError, match="sequence number 1 was trimmed"):
        log.read(1, 1)


def test_log_needs_room_for_one_item() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1, got 0"):
        ChangeLog(0)


def test_limited_batches_from_the_log_keep_order() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        first = hub.subscribe(None, accept_every_event)
        second = hub.subscribe(None, accept_every_event)
        events = publish(hub, *range(100, 1100, 100))
        batches = [await first.next_batch(4) for _ in range(3)]
        assert [len(batch) for batch in batches] == [4, 4, 2]
        assert [item for batch in batches for item in batch] == events
        assert await second.next_batch() == events

    asyncio.run(scenario())


def test_waiting_subscriber_wakes_for_a_new_item() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        subscription = hub.subscribe(None, accept_every_event)
        waiter = asyncio.create_task(subscription.next_batch())
        await asyncio.sleep(0)
        assert not waiter.done()
        events = publish(hub, 100)
        assert await asyncio.wait_for(waiter, 5) == events

    asyncio.run(scenario())


def test_filter_skips_changes_not_notices() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        subscription = hub.subscribe(None, lambda event: event.table == "task")
        publish(hub, 100, table="other")
        hub.set_reader_status("reconnecting", "lost")
        task_changes = publish(hub, 300)
        assert await subscription.next_batch() == [
            Notice("status", {"state": "reconnecting", "message": "lost"}), *task_changes,
        ]

    asyncio.run(scenario())


def test_resume_backlog_comes_before_live_items() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        earlier = publish(hub, 100, 200, 300)
        subscription = hub.subscribe(earlier[0].id, accept_every_event)
        live = publish(hub, 400, 500)
        assert await subscription.next_batch() == earlier[1:]
        assert await subscription.next_batch() == live

    asyncio.run(scenario())


def test_handover_ahead_skips_delivered() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        subscription = hub.new_subscription(accept_every_event)
        hub.attach(subscription, EventId.boundary(position(350)), ahead_ok=True)
        publish(hub, 100, 200, 300)
        later = publish(hub, 400, 500)
        assert await subscription.next_batch() == later
        assert subscription.pending_items() == []

    asyncio.run(scenario())


def test_close_keeps_unread_items_and_stops_reading() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        subscription = hub.subscribe(None, accept_every_event)
        unread = publish(hub, 100, 200)
        subscription.close("shutting down")
        publish(hub, 300)
        assert await subscription.next_batch() == unread
        assert await subscription.next_batch() == []

    asyncio.run(scenario())


def test_lagging_subscriber_keeps_oldest_items() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4), HubSettings(max_pending=8))
        keeping_up = hub.subscribe(None, accept_every_event)
        stalled = hub.subscribe(None, lambda event: event.table == "task")
        sent = []
        for offset in range(100, 2100, 100):
            sent += publish(hub, offset, table="task" if offset % 200 == 0 else "other")
            assert await keeping_up.next_batch() == sent[-1:]
        assert keeping_up.closed_reason is None
        assert stalled.closed_reason is not None and "too slow" in stalled.closed_reason
        assert hub.stats.slow_subscribers_dropped == 1
        remaining = await stalled.next_batch()
        assert remaining == [event for event in sent[:8] if event.table == "task"]
        assert await stalled.next_batch() == []

    asyncio.run(scenario())


def test_many_waiting_readers_are_woken_after_a_hold() -> None:
    async def scenario() -> None:
        log: ChangeLog[int] = ChangeLog(capacity=100)
        events = [asyncio.Event() for _ in range(200)]
        for event in events:
            log.notify(event)
        log.append([1])
        assert all(event.is_set() for event in events)
        for event in events:
            event.clear()
            log.notify(event)
        log.append([2])
        log.append([3])
        assert not any(event.is_set() for event in events)
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in events)), 5)

    asyncio.run(scenario())


def test_lone_reader_is_woken_at_once() -> None:
    async def scenario() -> None:
        log: ChangeLog[int] = ChangeLog(capacity=100)
        event = asyncio.Event()
        for item in range(3):
            event.clear()
            log.notify(event)
            log.append([item])
            assert event.is_set()
            # More than one reader's hold passes before the next append.
            await asyncio.sleep(0.001)

    asyncio.run(scenario())


def test_event_copy_drops_encoding() -> None:
    event = change(100)
    event.wire = "encoded"
    assert event.with_last(False).wire is None
    assert event == change(100)
