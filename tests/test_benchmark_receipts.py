"""The benchmark clients count each change they read exactly, from runs of events."""

from __future__ import annotations

import asyncio

from benchmarks.client_group import _commits_in
from benchmarks.clients import Receipts, Run, SseArrivals, StreamError

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


HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n")
OPENING = b": rowcast change stream\nretry: 2000\n\nevent: status\ndata: {}\n\n"


def feed(stream: SseArrivals, data: bytes) -> None:
    """Hand data to the stream as asyncio does after a recv_into() of its buffer."""
    buffer = stream.get_buffer(-1)
    buffer[:len(data)] = data
    stream.buffer_updated(len(data))


def test_sse_reads_become_runs() -> None:
    async def scenario() -> tuple[SseArrivals, Receipts]:
        receipts = Receipts()
        stream = SseArrivals(receipts)
        ended = asyncio.create_task(stream.record_arrivals(receipts))
        body = frame(10.25) + frame(11.5) + b"event: status\ndata: {}\n\n" + frame(12.75)
        closed = b'event: closed\ndata: {"reason": "too slow"}\n\n'
        # The head comes in two reads. The body of the second ends inside the
        # third change event, which the next read completes.
        reads = [HEAD[:20], HEAD[20:] + chunk(OPENING) + chunk(body[:-30]),
                 chunk(body[-30:]), chunk(closed) + b"0\r\n\r\n"]
        for data in reads:
            feed(stream, data)
        assert stream._subscribed.done()
        stream.connection_lost(None)
        await asyncio.wait_for(ended, 5)
        return stream, receipts

    stream, receipts = asyncio.run(scenario())
    assert stream.closed_reason == "too slow"
    assert [(run.first_sent, run.last_sent, run.count) for run in receipts.runs] == [
        (10.25, 11.5, 2), (12.75, 12.75, 1),
    ]


def test_sse_error_status_fails_open() -> None:
    async def scenario() -> BaseException | None:
        stream = SseArrivals(Receipts())
        feed(stream, b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
        return stream._subscribed.exception()

    error = asyncio.run(scenario())
    assert isinstance(error, StreamError)
    assert "503" in str(error)


def test_sse_streams_share_read_buffer() -> None:
    async def scenario() -> tuple[Receipts, Receipts]:
        first, second = Receipts(), Receipts()
        streams = [SseArrivals(first), SseArrivals(second)]
        for stream in streams:
            feed(stream, HEAD + chunk(OPENING))
        # Reads of the two streams alternate through the one buffer, as the
        # event loop serves ready sockets one after the other.
        feed(streams[0], chunk(frame(1.5)))
        feed(streams[1], chunk(frame(2.5) + frame(3.5)))
        feed(streams[0], chunk(frame(4.5)))
        return first, second

    first, second = asyncio.run(scenario())
    assert [(run.first_sent, run.last_sent, run.count) for run in first.runs] == [
        (1.5, 1.5, 1), (4.5, 4.5, 1),
    ]
    assert [(run.first_sent, run.last_sent, run.count) for run in second.runs] == [
        (2.5, 3.5, 2),
    ]
