"""Each event is encoded once, and streams that take every event share the framing of identical batches."""

from __future__ import annotations

import gc

from cdc.events import ChangeEvent, Operation
from cdc.hub import Notice
from cdc.position import BinlogPosition, EventId
from web.sse import _BatchFrames, _frames
from web.wire import change_sse_frame, change_ws_message


def change(offset: int) -> ChangeEvent:
    return ChangeEvent(
        id=EventId(BinlogPosition(1, offset, "binlog"), 1), op=Operation.UPDATE, db="robots",
        table="task", key={"id": offset}, before={"id": offset}, after={"id": offset}, ts_ms=0,
        server_id=1, file_name="binlog.000001", end_offset=offset + 50, txn_id=str(offset),
        txn_last=True,
    )


def test_same_batch_is_framed_once() -> None:
    cache = _BatchFrames(4)
    items = [change(100), Notice("status", {"state": "live"}), change(200)]
    data, changes = cache.frames(list(items))
    again, _ = cache.frames(list(items))
    assert again is data
    assert changes == 2
    assert data == _frames(items)[0]
    assert data.count(b"event: change\n") == 2


def test_batches_with_same_ends_differ_by_length() -> None:
    cache = _BatchFrames(4)
    first, middle, last = change(100), change(200), change(300)
    whole, _ = cache.frames([first, middle, last])
    skipped, changes = cache.frames([first, last])
    assert skipped != whole
    assert changes == 2


def test_oldest_batch_is_forgotten() -> None:
    cache = _BatchFrames(1)
    first = [change(100), change(200)]
    data, _ = cache.frames(first)
    cache.frames([change(300), change(400)])
    assert cache.frames(first)[0] is not data


def test_encoded_event_adds_no_collector_work() -> None:
    event = change(100)
    assert change_sse_frame(event).startswith(b"id: ")
    assert change_ws_message(event).startswith('{"type":"change",')
    # The collector untracks a tuple of strings at its next pass.
    gc.collect()
    assert not gc.is_tracked(event.wire)
