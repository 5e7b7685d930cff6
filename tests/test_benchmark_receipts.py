"""The benchmark clients count each change they read exactly, from runs of events."""

from __future__ import annotations

import asyncio

from benchmarks.client_group import _commits_in
from benchmarks.clients import Receipts, Run, SseConnection

ORDER = [10.0, 11.0, 12.0, 13.0]
INDEX_OF = {sent: index for index, sent in enumerate(ORDER)}


def test_run_covers_commits_between_its_ends() -> None:
    assert _commits_in(Run(11.0, 13.0, 3, 20.0), ORDER, INDEX_OF) == (1, 3)


def test_run_with_wrong_count_counts_nothing() -> None:
    assert _commits_in(Run(10.0, 13.0, 3, 20.0), ORDER, INDEX_OF) == (0, 0)


def test_run_from_before_measurement_counts_its_part() -> None:
    assert _commits_in(Run(8.0, 11.0, 4, 20.0), ORDER, INDEX_OF) == (0, 2)


def test_run_of_other_commits_counts_nothing() -> None:
    assert _commits_in(Run(20.0, 21.0, 2, 30.0), ORDER, INDEX_OF) == (0, 0)


def frame(sent_at: float) -> bytes:
    data = (f'{{"id":"x","before":{{"Task_ID":1,"Sent_At":1.5}},'
            f'"after":{{"Task_ID":1,"Sent_At":{sent_at}}},"ts_ms":0}}')
    return f"id: x\nevent: change\ndata: {data}\n\n".encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_sse_reads_become_runs() -> None:
    async def scenario() -> Receipts:
        reader = asyncio.StreamReader()
        connection = SseConnection(reader, None)  # type: ignore[arg-type]
        receipts = Receipts()
        task = asyncio.create_task(connection.record_arrivals(receipts))
        body = frame(10.25) + frame(11.5) + b"event: status\ndata: {}\n\n" + frame(12.75)
        closed = b'event: closed\ndata: {"reason": "too slow"}\n\n'
        # The first read ends inside the third event, which the second read completes.
        for data in (chunk(body[:-30]), chunk(body[-30:]), chunk(closed) + b"0\r\n\r\n"):
            reader.feed_data(data)
            for _ in range(3):
                await asyncio.sleep(0)
        reader.feed_eof()
        await asyncio.wait_for(task, 5)
        assert connection.closed_reason == "too slow"
        return receipts

    receipts = asyncio.run(scenario())
    assert [(run.first_sent, run.last_sent, run.count) for run in receipts.runs] == [
        (10.25, 11.5, 2), (12.75, 12.75, 1),
    ]
