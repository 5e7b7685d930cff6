"""A resume id ahead of the reader, as another worker may issue, waits for the reader."""

from __future__ import annotations

import asyncio

import pytest

from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent, Operation
from cdc.hub import ChangeHub
from cdc.position import BinlogPosition, EventId
from cdc.reader import ReaderSettings
from cdc.stream import StreamSettings
from cdc.tables import TableFilter
from web.resume_wait import WaitingChangeStream


def position(offset: int) -> BinlogPosition:
    return BinlogPosition(1, offset, "binlog")


def change(offset: int, row: int) -> ChangeEvent:
    return ChangeEvent(
        id=EventId(position(offset), row), op=Operation.UPDATE, db="robots", table="task",
        key={"id": offset}, before={"id": offset}, after={"id": offset}, ts_ms=0, server_id=1,
        file_name="binlog.000001", end_offset=offset + 50, txn_id=str(offset), txn_last=True,
    )


def accept_all(event: ChangeEvent) -> bool:
    return True


def stream_on(hub: ChangeHub, wait_s: float, monkeypatch: pytest.MonkeyPatch) -> WaitingChangeStream:
    """Return a stream whose hub is `hub`, without a reader or a database server."""
    reader = ReaderSettings(ConnectionSettings("127.0.0.1", 1, "reader", "pw", "robots"),
                            TableFilter.parse("robots.task"))
    stream = WaitingChangeStream(StreamSettings(reader), wait_s)
    monkeypatch.setattr(WaitingChangeStream, "hub", hub)
    return stream


def test_resume_ahead_waits_for_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        stream = stream_on(hub, 30.0, monkeypatch)
        later = [change(300, 1), change(300, 2)]

        def read_on() -> None:
            hub.publish([change(100, 1)], position(200))
            hub.publish(later, position(400))

        asyncio.get_running_loop().call_later(0.05, read_on)
        subscription, reset = await stream.open(later[0].id, accept_all)
        subscription.close("test done")
        assert reset is None
        assert await subscription.next_batch() == later[1:]

    asyncio.run(scenario())


def test_resume_ahead_resets_after_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        stream = stream_on(hub, 0.05, monkeypatch)
        _, reset = await stream.open(change(300, 1).id, accept_all)
        assert reset is not None
        assert reset.data["reason"] == "unknown"

    asyncio.run(scenario())


def test_no_wait_resets_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        hub = ChangeHub(position(4))
        stream = stream_on(hub, 0.0, monkeypatch)
        opened = asyncio.ensure_future(stream.open(change(300, 1).id, accept_all))
        # One pass of the loop is enough when nothing waits for the reader.
        await asyncio.sleep(0)
        assert opened.done()
        _, reset = opened.result()
        assert reset is not None
        assert reset.data["reason"] == "unknown"

    asyncio.run(scenario())
