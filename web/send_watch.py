"""End SSE streams whose write to the client has not returned in time.

sse-starlette can bound each send by itself, but it opens a cancel scope
around every send to do so, and with thousands of clients that each get a
few writes a second the scope costs more than the write. Here each stream
notes when its current send began, and one task per app looks at every
stream once a second and cancels the streams stuck for longer than the limit.

Cancelling ends the response, but uvicorn then closes the connection with
transport.close(), which waits until the client has read what is buffered.
A client that reads nothing but stays connected would keep its socket open
in the server. So the server runs TrackedHttpProtocol, which keeps each
connection's transport under its addresses, and a stalled stream resets
its connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import AsyncIterable
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

logger = logging.getLogger(__name__)

# The maximum wait in seconds between two checks of the open streams. A
# stalled stream ends between the limit and the limit plus this wait.
CHECK_INTERVAL_S = 1.0

# (client, server) addresses of a TCP connection, each (host, port) as in an ASGI scope.
Connection = tuple[tuple[str, int], tuple[str, int]]

# Transports of the open connections of every app in this process.
_transports: dict[Connection, asyncio.BaseTransport] = {}


class TrackedHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, whose transports a stalled stream can find and abort."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._addresses = _connection_key(transport.get_extra_info("peername"),
                                     transport.get_extra_info("sockname"))
        if self._addresses is not None:
            _transports[self._addresses] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._addresses is not None and _transports.get(self._addresses) is self.transport:
            del _transports[self._addresses]
        super().connection_lost(exc)


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close a connection at once, dropping what is buffered for the client.

    abort() alone drops the transport's buffer, but the kernel would go on
    trying to send the socket's buffer until its retries run out. A zero
    linger time makes the close reset the connection.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _connection_key(client: Any, server: Any) -> Connection | None:
    """Return the (client, server) pair of two TCP addresses, or None for other sockets."""
    if not all(isinstance(address, (tuple, list)) and len(address) >= 2
               for address in (client, server)):
        return None
    return (str(client[0]), int(client[1])), (str(server[0]), int(server[1]))


class SendWatch:
    """The open watched streams, and the task that ends those stuck in a send."""

    def __init__(self, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError(f"send timeout must be above 0 seconds, got {timeout_s!r}")
        self.timeout_s = timeout_s
        self.interval_s = min(CHECK_INTERVAL_S, timeout_s / 4)
        self._streams: set[WatchedEventSourceResponse] = set()
        # Streams ended because a send took too long, since the app started.
        self.stalled = 0

    def add(self, stream: WatchedEventSourceResponse) -> None:
        self._streams.add(stream)

    def discard(self, stream: WatchedEventSourceResponse) -> None:
        self._streams.discard(stream)

    def check(self, now: float) -> None:
        """End every stream whose current send began more than the limit before `now`."""
        for stream in [s for s in self._streams if s.sending_for(now) > self.timeout_s]:
            self._streams.discard(stream)
            self.stalled += 1
            stream.end_stalled(now)

    async def run(self) -> None:
        """Check the streams until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            self.check(time.monotonic())


class WatchedEventSourceResponse(EventSourceResponse):
    """An EventSourceResponse whose sends a SendWatch bounds, instead of one scope per send."""

    def __init__(self, content: AsyncIterable[Any], watch: SendWatch, subscriber: int,
                 **options: Any) -> None:
        super().__init__(content, send_timeout=None, **options)
        self._watch = watch
        self._subscriber = subscriber
        self._sending_since: float | None = None
        self._cancel_scope: anyio.CancelScope | None = None
        self._connection: Connection | None = None

    def sending_for(self, now: float) -> float:
        """Return the seconds the current send has taken, 0 when none is under way."""
        since = self._sending_since
        return 0.0 if since is None else now - since

    def end_stalled(self, now: float) -> None:
        """Drop the connection, and cancel the response: stream, heartbeat and disconnect listener."""
        transport = _transports.get(self._connection) if self._connection else None
        # Without TrackedHttpProtocol (another server setup), only the stream
        # ends, and the connection closes once the client reads or leaves.
        logger.warning(
            "sse client stopped reading subscriber=%s client=%s send_waited_s=%.1f "
            "connection_reset=%s; ending the stream, the client can resume with its last "
            "event id",
            self._subscriber, self._connection and self._connection[0], self.sending_for(now),
            transport is not None,
        )
        if transport is not None:
            _reset(transport)
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # NOTE: this overrides a private method of sse-starlette 3.x, through which
    # every data and heartbeat send goes. tests/web/test_send_watch.py fails
    # when a release stops calling it.
    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        self._sending_since = time.monotonic()
        try:
            await send(message)
        except BaseException:
            # As sse-starlette does: the transport is in an unknown state, so
            # no closing send is attempted after this one.
            self._send_interrupted = True
            raise
        finally:
            self._sending_since = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._connection = _connection_key(scope.get("client"), scope.get("server"))
        with anyio.CancelScope() as cancel_scope:
            self._cancel_scope = cancel_scope
            self._watch.add(self)
            try:
                await super().__call__(scope, receive, send)
            finally:
                self._watch.discard(self)
