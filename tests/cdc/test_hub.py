"""The hub delivers to every subscriber, resumes from its buffer and drops slow subscribers."""

from __future__ import annotations

import asyncio

import pytest

from cdc.events import ChangeEvent, Operation
from cdc.hub import ChangeHub, HubSettings, Notice, ResumeUnavailable, estimated_size
from cdc.position import BinlogPosition, EventId


def position(offset: int) -> BinlogPosition:
    return BinlogPosition(1, offset, "binlog")


def change(offset: int, row: int = 1, last: bool = True, table: str = "task") -> ChangeEvent:
    return ChangeEvent(
        id=EventId(position(offset), row), op=Operation.UPDATE, db="robots", table=table,
        key={"id": offset}, before={"id": offset}, after={"id": offset}, ts_ms=0, server_id=1,
        file_name="binlog.000001", end_offset=offset + 50, txn_id=str(offset), txn_last=last,
    )


def publish(hub: ChangeHub, offset: int, rows: int = 1) -> list[ChangeEvent]:
    events = [change(offset, row, last=row == rows) for row in range(1, rows + 1)]
    hub.publish(events, position(offset + 100))
    return events


def accept_all(event: ChangeEvent) -> bool:
    return True


async def drain(hub: ChangeHub, after: EventId | None) -> list[ChangeEvent]:
    subscription = hub.subscribe(after, accept_all)
    subscription.close("test done")
    items = await subscription.next_batch()
    return [item for item in items if isinstance(item, ChangeEvent)]


def test_every_subscriber_gets_every_event() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        first = hub.subscribe(None, accept_all)
        second = hub.subscribe(None, accept_all)
        events = publish(hub, 100, rows=3)
        assert await first.next_batch() == events
        assert await second.next_batch() == events

    asyncio.run(scenario())


def test_resume_returns_events_after_id() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        events = publish(hub, 100, rows=2) + publish(hub, 300)
        assert await drain(hub, events[0].id) == events[1:]
        assert await drain(hub, EventId.boundary(position(4))) == events
        assert await drain(hub, events[-1].id) == []

    asyncio.run(scenario())


def test_resume_before_buffer_is_expired() -> None:
    hub = ChangeHub(position(4), HubSettings(buffer_events=2))
    first = publish(hub, 100)
    later = publish(hub, 300) + publish(hub, 500)
    assert hub.events_after(first[0].id) == later
    with pytest.raises(ResumeUnavailable) as caught:
        hub.events_after(EventId.boundary(position(4)))
    assert caught.value.reason == "expired"
    assert "older than the oldest change" in caught.value.message


def test_resume_beyond_stream_is_unknown() -> None:
    hub = ChangeHub(position(4))
    with pytest.raises(ResumeUnavailable) as caught:
        hub.events_after(EventId(position(9999), 1))
    assert caught.value.reason == "unknown"


def test_slow_subscriber_dropped_others_served() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4), HubSettings(max_pending=3))
        slow = hub.subscribe(None, accept_all)
        fast = hub.subscribe(None, accept_all)
        received = []
        for offset in range(100, 1100, 100):
            received += publish(hub, offset)
            received_now = await fast.next_batch()
            assert received_now == received[-1:]
        assert slow.closed_reason is not None
        assert "too slow" in slow.closed_reason
        assert fast.closed_reason is None
        assert len(await slow.next_batch()) == 3
        assert await slow.next_batch() == []

    asyncio.run(scenario())


def test_filter_skips_other_tables() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        subscription = hub.subscribe(None, lambda event: event.table == "task")
        hub.publish([change(100, table="other"), change(100, 2, table="task")], position(200))
        batch = await subscription.next_batch()
        assert [item.table for item in batch if isinstance(item, ChangeEvent)] == ["task"]

    asyncio.run(scenario())


def test_status_change_reaches_subscribers_once() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        subscription = hub.subscribe(None, accept_all)
        hub.set_reader_status("reconnecting", "lost")
        hub.set_reader_status("reconnecting", "lost again")
        hub.set_reader_status("live", "back")
        batch = await subscription.next_batch()
        assert batch == [
            Notice("status", {"state": "reconnecting", "message": "lost"}),
            Notice("status", {"state": "live", "message": "back"}),
        ]

    asyncio.run(scenario())


def test_wait_for_position_wakes_on_progress() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        waiter = asyncio.create_task(hub.wait_for_position(position(500), timeout_s=5))
        await asyncio.sleep(0)
        assert not waiter.done()
        hub.advance(position(600))
        await waiter

    asyncio.run(scenario())


def test_buffer_bounded_by_bytes() -> None:
    hub = ChangeHub(position(4), HubSettings(buffer_events=1000, buffer_bytes=3000))
    events = []
    for offset in range(100, 2100, 100):
        events += publish(hub, offset)
    kept = hub.events_after(hub.horizon)
    assert 1 < len(kept) < len(events)
    assert kept == events[-len(kept):]
    assert sum(estimated_size(event) for event in kept) <= 3000


def test_resume_backlog_beyond_pending_limit() -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4), HubSettings(max_pending=3))
        events = []
        for offset in range(100, 1100, 100):
            events += publish(hub, offset)
        subscription = hub.subscribe(events[0].id, accept_all)
        assert subscription.closed_reason is None
        assert await subscription.next_batch() == events[1:]
        live = []
        for offset in range(2000, 2300, 100):
            live += publish(hub, offset)
        assert subscription.closed_reason is None
        assert await subscription.next_batch() == live
        for offset in range(3000, 3400, 100):
            publish(hub, offset)
        assert subscription.closed_reason is not None

    asyncio.run(scenario())
