"""Watch over the open SSE streams: end stalled ones and keep idle ones alive.

sse-starlette runs four tasks for each response in an anyio task group (the
stream, a heartbeat, a shutdown listener and a disconnect listener) and can
bound each send with a cancel scope of its own. With thousands of clients
the tasks took about 19 KB of memory per connection, and a scope cost more
CPU than the send it bounded. Here each response runs two plain asyncio
tasks, the stream and the disconnect listener. One task per app looks at
every stream about once a second. It ends those whose send has waited longer than the limit, and
sends a heartbeat comment to those that have sent nothing for the heartbeat
interval. Shutdown ends the streams through the hub (web.app.begin_shutdown).

Cancelling a stream ends the response, but uvicorn then closes the connection
with transport.close(), which waits until the client has read what is
buffered. A client that reads nothing but stays connected would keep its
socket open in the server. So the server runs TrackedHttpProtocol, which
keeps each connection's transport under its addresses, and a stalled stream
resets its connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import AsyncIterable
from datetime import datetime, timezone
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.event import ensure_bytes
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
    """The open watched streams, and the task that ends stalled ones and keeps idle ones alive."""

    def __init__(self, timeout_s: float, heartbeat_s: float = 15.0) -> None:
        if timeout_s <= 0:
            raise ValueError(f"send timeout must be above 0 seconds, got {timeout_s!r}")
        if heartbeat_s < 0:
            raise ValueError(f"invalid heartbeat interval {heartbeat_s!r}: use a number of "
                             "seconds, or 0 for no heartbeats")
        self.timeout_s = timeout_s
        self.heartbeat_s = heartbeat_s
        waits = [CHECK_INTERVAL_S, timeout_s / 4]
        if heartbeat_s:
            waits.append(heartbeat_s / 4)
        self.interval_s = min(waits)
        self._streams: set[WatchedEventSourceResponse] = set()
        # Streams ended because a send took too long, since the app started.
        self.stalled = 0

    def add(self, stream: WatchedEventSourceResponse) -> None:
        self._streams.add(stream)

    def discard(self, stream: WatchedEventSourceResponse) -> None:
        self._streams.discard(stream)

    def check(self, now: float) -> None:
        """End every stream whose send began more than the limit before `now`.

        Every other stream that has sent nothing for the heartbeat interval
        gets a heartbeat comment.
        """
        for stream in list(self._streams):
            if stream.sending_for(now) > self.timeout_s:
                self._streams.discard(stream)
                self.stalled += 1
                stream.end_stalled(now)
            elif self.heartbeat_s and stream.idle_for(now) >= self.heartbeat_s:
                stream.send_heartbeat()

    async def run(self) -> None:
        """Check the streams until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            self.check(time.monotonic())


class WatchedEventSourceResponse(EventSourceResponse):
    """An EventSourceResponse run as two tasks, whose sends and heartbeats a SendWatch drives."""

    def __init__(self, content: AsyncIterable[Any], watch: SendWatch, subscriber: int,
                 **options: Any) -> None:
        # The watch sends the heartbeats, so sse-starlette starts no task for them.
        super().__init__(content, send_timeout=None, ping=0, **options)
        self._watch = watch
        self._subscriber = subscriber
        self._send: Send | None = None
        self._sending_since: float | None = None
        # time.monotonic() when the response started or its last send ended.
        self._idle_since: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._connection: Connection | None = None

    def sending_for(self, now: float) -> float:
        """Return the seconds the current send has taken, 0 when none is under way."""
        since = self._sending_since
        return 0.0 if since is None else now - since

    def idle_for(self, now: float) -> float:
        """Return the seconds since the last send ended, 0 while one is under way."""
        since = self._idle_since
        if since is None or self._sending_since is not None:
            return 0.0
        return now - since

    def send_heartbeat(self) -> None:
        """Start sending a heartbeat comment, unless one is still under way."""
        if self._send is None or (self._heartbeat is not None and not self._heartbeat.done()):
            return
        self._heartbeat = asyncio.get_running_loop().create_task(self._send_heartbeat(self._send))

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
        self._cancel_tasks()

    # NOTE: this overrides a private method of sse-starlette 3.x, through which
    # every data send goes. tests/web/test_send_watch.py fails when a release
    # stops calling it.
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
        self._idle_since = time.monotonic()

    async def _send_heartbeat(self, send: Send) -> None:
        comment = ServerSentEvent(comment=f"ping - {datetime.now(timezone.utc)}", sep=self.sep)
        message = {"type": "http.response.body", "body": ensure_bytes(comment, self.sep),
                   "more_body": True}
        try:
            async with self._send_lock:
                if self.active:
                    await self._send_with_timeout(send, message)
        except OSError as error:
            # The client has gone, and the disconnect listener ends the response.
            logger.debug("sse heartbeat failed subscriber=%s error=%r", self._subscriber, error)

    def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].upper() == "HEAD":
            # sse-starlette responds to these without opening a stream.
            await super().__call__(scope, receive, send)
            return
        self._connection = _connection_key(scope.get("client"), scope.get("server"))
        self._send = send
        self._idle_since = time.monotonic()
        loop = asyncio.get_running_loop()
        streaming = loop.create_task(self._stream_response(send))
        listening = loop.create_task(self._listen_for_disconnect(receive))
        self._tasks = [streaming, listening]
        self._watch.add(self)
        try:
            # Either task ending ends the response, as in sse-starlette's task group.
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._watch.discard(self)
            self._cancel_tasks()
            tasks = [*self._tasks, *([self._heartbeat] if self._heartbeat else [])]
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if self.background is not None:
            await self.background()
