"""Stream clients for the benchmarks: SSE over raw asyncio sockets, and WebSocket.

Both hand each change event to a handler with the time.time() at which its
bytes were read, so that delivery latency compares two clocks of one machine.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_blocking

HOST = "127.0.0.1"
READ_SIZE = 65536
OPEN_TIMEOUT_S = 30.0
SSE_CHANGE = b"\nevent: change\n"
SSE_STATUS = b"\nevent: status\n"
SSE_CLOSED = b"\nevent: closed\n"
SSE_DATA = b"\ndata: "
# Bytes of a `closed` event at most: its reason is one sentence.
CLOSED_EVENT_MAX = 1024
SENT_AT_FIELD = b'"Sent_At":'
_JSON_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
# Sent_At is the timed table's last column, and ts_ms follows the after image
# in a change event, so the after image's Sent_At value ends right before this.
_AFTER_IMAGE_END = b'},"ts_ms":'

# States of ChunkedDecoder: a chunk size line, chunk data, the CRLF after the
# data, and the end of the body after the zero-size chunk.
_SIZE_LINE, _DATA, _DATA_END, _FINISHED = range(4)

# Receives the bytes of one change event and when they were read; returns
# True when the client should stop reading.
ChangeHandler = Callable[[bytes, float], bool]


class StreamError(RuntimeError):
    """A stream endpoint responded with something other than an open stream."""


class ChunkedDecoder:
    """Incremental decoder of an HTTP/1.1 chunked body (RFC 9112, section 7.1)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._state = _SIZE_LINE
        # Bytes of the current chunk's data still to come.
        self._remaining = 0

    def feed(self, data: bytes) -> bytes:
        """Return the body bytes in data, together with any held back from earlier calls."""
        buffer = self._buffer + data
        output = []
        position = 0
        while True:
            if self._state == _DATA:
                piece = buffer[position:position + self._remaining]
                output.append(piece)
                position += len(piece)
                self._remaining -= len(piece)
                if self._remaining:
                    break
                self._state = _DATA_END
            elif self._state == _DATA_END:
                if len(buffer) - position < 2:
                    break
                position += 2
                self._state = _SIZE_LINE
            elif self._state == _SIZE_LINE:
                line_end = buffer.find(b"\r\n", position)
                if line_end < 0:
                    break
                # A size line may carry extensions after a semicolon.
                size = int(buffer[position:line_end].split(b";", 1)[0], 16)
                position = line_end + 2
                self._remaining = size
                self._state = _DATA if size else _FINISHED
            else:
                break
        self._buffer = buffer[position:]
        return b"".join(output)


class SseConnection:
    """One GET /events request read over a plain socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = ChunkedDecoder()
        self._pending = b""
        self._events: list[bytes] = []
        # The reason the server gave when it ended the stream, such as a too slow client.
        self.closed_reason: str | None = None

    @classmethod
    async def open(cls, port: int, query: str, receive_buffer: int | None = None) -> SseConnection:
        """Send the request and wait for the `status` event that follows the subscription."""
        reader, writer = await asyncio.wait_for(_open_socket(port, receive_buffer), OPEN_TIMEOUT_S)
        writer.write(
            f"GET /events?{query} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode("ascii")
        )
        _read_small(writer.transport)
        connection = cls(reader, writer)
        await asyncio.wait_for(connection._read_head(), OPEN_TIMEOUT_S)
        await asyncio.wait_for(connection._wait_for_status(), OPEN_TIMEOUT_S)
        return connection

    async def read_changes(self, handle: ChangeHandler) -> None:
        """Pass every change event to handle until it returns True or the stream ends."""
        for event in self._take_events():
            if self._dispatch(event, time.time(), handle):
                return
        while True:
            data = await self._reader.read(READ_SIZE)
            if not data:
                return
            received = time.time()
            self._feed(data)
            for event in self._take_events():
                if self._dispatch(event, received, handle):
                    return

    def close(self) -> None:
        self._writer.close()

    def _dispatch(self, event: bytes, received: float, handle: ChangeHandler) -> bool:
        if SSE_CHANGE in event:
            return handle(event, received)
        if SSE_CLOSED in event:
            data = event.split(SSE_DATA, 1)[1].split(b"\n", 1)[0]
            self.closed_reason = str(json.loads(data).get("reason"))
        return False

    async def _read_head(self) -> None:
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line:
            raise StreamError(
                f"GET /events returned {status_line.decode(errors='replace')!r}; expected 200 OK")
        if b"transfer-encoding: chunked" not in head.lower():
            raise StreamError("GET /events responded without chunked transfer encoding, "
                              "which this client expects from uvicorn")

    async def _wait_for_status(self) -> None:
        while True:
            events = self._take_events()
            for index, event in enumerate(events):
                if SSE_STATUS in event:
                    self._events = events[index + 1:] + self._events
                    return
            data = await self._reader.read(READ_SIZE)
            if not data:
                raise StreamError("GET /events ended before its status event")
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        # Lines may end in CRLF or LF (sse-starlette 3 sends CRLF). A CR held
        # back at the end of _pending joins the LF that comes in the next read.
        text = (self._pending + self._decoder.feed(data)).replace(b"\r\n", b"\n")
        *complete, self._pending = text.split(b"\n\n")
        # Each block gets a leading newline, so that every field starts with one.
        self._events.extend(b"\n" + block for block in complete)

    def _take_events(self) -> list[bytes]:
        events, self._events = self._events, []
        return events


class SseArrivals(asyncio.BufferedProtocol):
    """One GET /events stream that records its change events in runs as they arrive.

    One client process reads thousands of these, so each read is parsed as it
    arrives: asyncio's StreamReader took about a quarter of such a process's
    time for its buffering and task wake-ups. Of each read only the first and
    last Sent_At value are parsed, and the change events between them
    counted: parsing every event took more CPU than the server it measures
    with 5,000 clients.

    Reads go into one buffer that every stream of the process shares, because
    asyncio fills it and calls buffer_updated before it reads the next socket.
    A plain Protocol gets its data from a recv() of 256 KiB, and glibc serves
    an allocation that large with mmap, mremap and munmap calls: 14 µs against
    2.4 µs for a recv_into() in a micro-benchmark on a 2-core AMD EPYC.
    """

    _read_buffer = memoryview(bytearray(READ_SIZE))

    def __init__(self, receipts: Receipts) -> None:
        loop = asyncio.get_running_loop()
        self._receipts = receipts
        self._transport: asyncio.BaseTransport | None = None
        # The response head until it is complete, then None.
        self._head: bytes | None = b""
        self._decoder = ChunkedDecoder()
        self._pending = b""
        # Resolves once the status event, which follows the subscription, has arrived.
        self._subscribed: asyncio.Future[None] = loop.create_future()
        self._ended: asyncio.Future[None] = loop.create_future()
        # The reason the server gave when it ended the stream, such as a too slow client.
        self.closed_reason: str | None = None

    @classmethod
    async def open(cls, port: int, query: str, receipts: Receipts) -> SseArrivals:
        """Send the request and wait for the status event. Later change events go to receipts."""
        loop = asyncio.get_running_loop()
        transport, stream = await asyncio.wait_for(
            loop.create_connection(lambda: cls(receipts), HOST, port), OPEN_TIMEOUT_S)
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(
            f"GET /events?{query} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode("ascii")
        )
        try:
            await asyncio.wait_for(asyncio.shield(stream._subscribed), OPEN_TIMEOUT_S)
        except BaseException:
            transport.close()
            raise
        return stream

    async def record_arrivals(self, receipts: Receipts) -> None:
        """Wait until the stream ends. Its change events go to the receipts given to open."""
        if receipts is not self._receipts:
            raise ValueError("this stream records into the receipts it was opened with")
        await asyncio.shield(self._ended)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._subscribed.done():
            self._subscribed.set_exception(exc or StreamError("GET /events ended before its "
                                                              "status event"))
        if not self._ended.done():
            self._ended.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        received = time.time()
        data = self._read_buffer[:nbytes].tobytes()
        try:
            if self._head is not None:
                data = self._read_head(data)
            self._record(self._pending + self._decoder.feed(data), received)
        except StreamError as error:
            if not self._subscribed.done():
                self._subscribed.set_exception(error)
            self.close()

    def _read_head(self, data: bytes) -> bytes:
        """Take the response head from data once complete, and return the body bytes after it."""
        assert self._head is not None
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            self._head = head
            return b""
        self._head = None
        status_line = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line:
            raise StreamError(
                f"GET /events returned {status_line.decode(errors='replace')!r}; expected 200 OK")
        if b"transfer-encoding: chunked" not in head[:end].lower():
            raise StreamError("GET /events responded without chunked transfer encoding, "
                              "which this client expects from uvicorn")
        return head[end + 4:]

    def _record(self, text: bytes, received: float) -> None:
        # Lines may end in CRLF or LF (sse-starlette 3 sends CRLF).
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n")
        end = text.rfind(b"\n\n")
        if end < 0:
            self._pending = text
            return
        # Searching within bounds instead of slicing saves copying the text.
        self._pending = text[end + 2:]
        start = 0
        if not self._subscribed.done():
            status = text.find(SSE_STATUS[1:], 0, end)
            if status < 0:
                return
            start = text.find(b"\n\n", status) + 1
            self._subscribed.set_result(None)
        count = text.count(SSE_CHANGE, start, end)
        if count:
            first = _after_sent_at(text, text.find(_AFTER_IMAGE_END, start, end))
            last = _after_sent_at(text, text.rfind(_AFTER_IMAGE_END, start, end))
            self._receipts.record_run(first, last, count, received)
        # A `closed` event is the last one the server sends, so it ends the text.
        tail = text[max(start, end - CLOSED_EVENT_MAX):end]
        if SSE_CLOSED[1:] in tail:
            event = tail.rsplit(b"\n\n", 1)[-1]
            data = event.split(SSE_DATA[1:], 1)[1].split(b"\n", 1)[0]
            self.closed_reason = str(json.loads(data).get("reason"))


class WsConnection:
    """One /ws connection."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        # The reason the server gave when it ended the stream, such as a too slow client.
        self.closed_reason: str | None = None

    @classmethod
    async def open(cls, port: int, query: str) -> WsConnection:
        """Open the WebSocket and wait for the `status` message that follows the subscription."""
        connection = await connect(
            f"ws://{HOST}:{port}/ws?{query}", open_timeout=OPEN_TIMEOUT_S, max_size=None,
            # The benchmark measures delivery, not keepalive; pings would add traffic.
            ping_interval=None,
        )
        _read_small(connection.transport)
        first = await asyncio.wait_for(connection.recv(), OPEN_TIMEOUT_S)
        if '"type":"status"' not in str(first):
            raise StreamError(f"GET /ws sent {str(first)[:200]} before its status message")
        return cls(connection)

    async def read_changes(self, handle: ChangeHandler) -> None:
        """Pass every change message to handle until it returns True or the socket closes."""
        try:
            async for message in self._connection:
                received = time.time()
                data = message.encode() if isinstance(message, str) else message
                if data.startswith(b'{"type":"change"'):
                    if handle(data, received):
                        return
                elif data.startswith(b'{"type":"closed"'):
                    self.closed_reason = str(json.loads(data).get("reason"))
        except ConnectionClosed as error:
            # websockets raises on a close code other than 1000 and 1001, such as
            # rowcast's 1013 for a client that fell too far behind.
            if self.closed_reason is None:
                self.closed_reason = error.rcvd.reason if error.rcvd else str(error)

    async def record_arrivals(self, receipts: Receipts) -> None:
        """Record the Sent_At value and arrival time of every change message until the socket closes."""
        await self.read_changes(receipts.record)

    async def close(self) -> None:
        await self._connection.close()


class Run(NamedTuple):
    """Consecutive change events that arrived at one time, named by the Sent_At of the first and last."""

    first_sent: float
    last_sent: float
    count: int
    received: float


@dataclass
class Receipts:
    """Arrival times of change events, as runs of consecutive events.

    The writer's Sent_At values grow with every commit, and a stream delivers
    changes in commit order, so a run covers every commit from its first
    Sent_At to its last. The collector checks each run's count against that.
    """

    runs: list[Run] = field(default_factory=list)

    def record(self, event: bytes, received: float) -> bool:
        """Record one change event; return False, so that the client keeps reading."""
        sent = sent_at_of(event)
        self.runs.append(Run(sent, sent, 1, received))
        return False

    def record_run(self, first_sent: float, last_sent: float, count: int, received: float) -> None:
        """Record count consecutive change events that arrived together."""
        self.runs.append(Run(first_sent, last_sent, count, received))

    def clear(self) -> None:
        self.runs.clear()


def _read_small(transport: asyncio.BaseTransport) -> None:
    """Make a socket transport read at most READ_SIZE bytes at a time.

    asyncio's selector transport reads with recv() of max_size bytes, 256 KiB
    in CPython 3.11, which costs a memory mapping per read (see SseArrivals).
    max_size is private, so a transport without it keeps its own size.
    """
    if hasattr(transport, "max_size"):
        transport.max_size = READ_SIZE  # type: ignore[attr-defined]


def _after_sent_at(text: bytes, image_end: int) -> float:
    """Return the Sent_At value that ends at image_end, the end of an after image."""
    start = text.rfind(SENT_AT_FIELD, 0, image_end)
    if image_end < 0 or start < 0:
        raise StreamError(f"change event without a numeric Sent_At column: {text[:200]!r}")
    return float(text[start + len(SENT_AT_FIELD):image_end])


def sent_at_of(event: bytes) -> float:
    """Return the Sent_At value of a change event's after image.

    The after image follows the before image in the JSON object, so the last
    Sent_At field is the new value.
    """
    start = event.rfind(SENT_AT_FIELD)
    number = _JSON_NUMBER.match(event, start + len(SENT_AT_FIELD)) if start >= 0 else None
    if number is None:
        raise StreamError(f"change event without a numeric Sent_At column: {event[:200]!r}")
    return float(number[0])


async def _open_socket(
    port: int, receive_buffer: int | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if receive_buffer is None:
        return await asyncio.open_connection(HOST, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer, set before connecting so that the TCP window
    # stays small, keeps a client that stops reading from hiding megabytes of
    # events in the kernel: they stay queued in the server instead.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    return await asyncio.open_connection(sock=sock)


@contextmanager
def first_streams(port: int, kind: str, query: str, count: int) -> Iterator[None]:
    """Open count streams of the kind, read each one's first event, and close them on exit.

    A server's first requests pay one-time costs, such as modules that load on
    first use, which a figure of memory per client should not include.
    """
    with ExitStack() as streams:
        for _ in range(count):
            if kind == "ws":
                connection = streams.enter_context(connect_blocking(
                    f"ws://{HOST}:{port}/ws?{query}", open_timeout=OPEN_TIMEOUT_S))
                connection.recv(timeout=OPEN_TIMEOUT_S)
                continue
            sse = streams.enter_context(socket.create_connection((HOST, port), OPEN_TIMEOUT_S))
            sse.sendall(f"GET /events?{query} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                        "Accept: text/event-stream\r\n\r\n".encode("ascii"))
            received = b""
            while b"event: status" not in received:
                data = sse.recv(READ_SIZE)
                if not data:
                    raise ConnectionError(f"the server on port {port} closed the stream "
                                          f"before its first event: {received[:200]!r}")
                received += data
        yield
