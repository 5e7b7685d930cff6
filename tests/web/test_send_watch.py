"""A client that stops reading is closed after the send timeout, and loses nothing."""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pymysql
import pytest
from clients import SseClient, parse_sse
from servers import RunningApp, body_table, start_app, update_bodies

from benchmarks.clients import ChunkedDecoder
from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings
from rowcast.private_server import PrivateServer
from web.send_watch import SendWatch

WAIT_S = 30.0
SEND_TIMEOUT_S = 1.0
ROWS = 10
# Each round updates every row with bodies of BODY_CHARS characters, and the
# event carries the body before and after: about 24 MB in all. That is far
# more than the socket buffers between the server and a client that reads
# nothing hold (about 4.5 MB measured on Linux with default TCP settings).
ROUNDS = 150
BODY_CHARS = 8000
STALLED_METRIC = "rowcast_sse_stalled_streams_closed_total"


class _Stream:
    """Stand-in for a response in SendWatch.check: a send under way since a time, or idle since one."""

    def __init__(self, since: float | None, idle_since: float | None = None) -> None:
        self.since = since
        self.idle_since = idle_since
        self.ended_at: float | None = None
        self.heartbeats = 0

    def sending_for(self, now: float) -> float:
        return 0.0 if self.since is None else now - self.since

    def idle_for(self, now: float) -> float:
        return 0.0 if self.idle_since is None else now - self.idle_since

    def end_stalled(self, now: float) -> None:
        self.ended_at = now

    def send_heartbeat(self) -> None:
        self.heartbeats += 1


def test_check_ends_stuck_streams_only() -> None:
    watch = SendWatch(timeout_s=10.0)
    idle, busy, stuck = _Stream(None), _Stream(95.0), _Stream(89.0)
    for stream in (idle, busy, stuck):
        watch.add(stream)  # type: ignore[arg-type]

    watch.check(100.0)
    watch.check(101.0)

    assert (idle.ended_at, busy.ended_at, stuck.ended_at) == (None, None, 100.0)
    assert watch.stalled == 1


def test_check_sends_heartbeats_when_idle() -> None:
    watch = SendWatch(timeout_s=10.0, heartbeat_s=15.0)
    fresh, quiet, stuck = _Stream(None, 90.0), _Stream(None, 80.0), _Stream(85.0)
    for stream in (fresh, quiet, stuck):
        watch.add(stream)  # type: ignore[arg-type]

    watch.check(100.0)

    assert fresh.heartbeats == 0
    assert quiet.heartbeats == 1
    assert stuck.heartbeats == 0
    assert stuck.ended_at == 100.0


def test_zero_heartbeat_sends_none() -> None:
    watch = SendWatch(timeout_s=10.0, heartbeat_s=0)
    quiet = _Stream(None, 0.0)
    watch.add(quiet)  # type: ignore[arg-type]

    watch.check(100.0)

    assert quiet.heartbeats == 0
    assert watch.interval_s == 1.0


def test_check_interval_follows_heartbeat() -> None:
    assert SendWatch(timeout_s=30.0, heartbeat_s=2.0).interval_s == 0.5


@pytest.mark.parametrize("heartbeat_s", [-1.0, -0.5])
def test_heartbeat_must_not_be_negative(heartbeat_s: float) -> None:
    with pytest.raises(ValueError, match=repr(heartbeat_s)):
        SendWatch(10.0, heartbeat_s)


@pytest.mark.parametrize("timeout_s", [0, -1.5])
def test_timeout_must_be_positive(timeout_s: float) -> None:
    with pytest.raises(ValueError, match=repr(timeout_s)):
        SendWatch(timeout_s)


@pytest.fixture
def stall_table(root: pymysql.Connection) -> Iterator[None]:
    with body_table(root, "stall_pages", ROWS, "MEDIUMTEXT"):
        yield


def test_stalled_client_closed_then_resumes(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, stall_table: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="web.send_watch")
    app = start_app(reader_settings, tables="robots.stall_pages",
                    hub=HubSettings(max_pending=ROUNDS * ROWS * 2),
                    send_timeout_s=SEND_TIMEOUT_S)
    normal = SseClient(f"{app.base_url}/events")
    try:
        normal.next("status")
        with open_unread_stream(app) as (stalled, status_id):
            written = write_rounds(mysql_server, normal)
            wait_for_metric(app, f"{STALLED_METRIC} 1.0")
            # Only the reading client's stream is still open.
            assert metric_line(app, 'rowcast_subscribers{transport="sse"}') == \
                'rowcast_subscribers{transport="sse"} 1.0'
            # The server reset the connection, although the client never read.
            assert wait_for_error(stalled) == errno.ECONNRESET

        # The client resumes after the last id it read, that of the status event.
        resumed = SseClient(f"{app.base_url}/events", headers={"Last-Event-ID": status_id})
        try:
            changes = [resumed.next().data for _ in written]
        finally:
            resumed.close()
        assert [change["id"] for change in changes] == [change["id"] for change in written]
    finally:
        normal.close()
        app.stop()
    assert any("stopped reading" in record.getMessage() for record in caplog.records)


@contextlib.contextmanager
def open_unread_stream(app: RunningApp) -> Iterator[tuple[socket.socket, str]]:
    """Open /events on a socket with a small receive buffer and read up to the status event.

    Yields the socket and the status event's id, the id a client resumes after.
    """
    host, port = app.base_url.removeprefix("http://").split(":")
    stream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting, so that the TCP window stays small.
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stream.settimeout(WAIT_S)
    try:
        stream.connect((host, int(port)))
        stream.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += stream.recv(1)
        decoder = ChunkedDecoder()
        body = ""
        # Byte by byte, so that nothing after the status event is read.
        while not re.search(r"event: status\r?\n.*\n\r?\n", body):
            body += decoder.feed(stream.recv(1)).decode()
        status = next(parse_sse(body.replace("\r\n", "\n").split("\n")))
        assert status.event == "status"
        assert status.id is not None
        yield stream, status.id
    finally:
        stream.close()


def wait_for_error(stream: socket.socket) -> int:
    """Return the socket's pending error once it has one, without reading."""
    deadline = time.monotonic() + WAIT_S
    while (error := stream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)) == 0:
        if time.monotonic() > deadline:
            pytest.fail(f"The server kept the stalled connection open {WAIT_S} s after "
                        "closing its stream")
        time.sleep(0.1)
    return error


def write_rounds(server: PrivateServer, normal: SseClient) -> list[dict[str, Any]]:
    """Update every row ROUNDS times, and return the changes as the reading client got them."""
    return update_bodies(server, "stall_pages", ROUNDS, BODY_CHARS,
                         lambda: [normal.next(timeout=WAIT_S).data for _ in range(ROWS)])


def metric_line(app: RunningApp, name: str) -> str | None:
    text = httpx.get(f"{app.base_url}/metrics", timeout=WAIT_S).text
    return next((line for line in text.splitlines() if line.startswith(name + " ")), None)


def wait_for_metric(app: RunningApp, expected: str) -> None:
    name = expected.split(" ")[0]
    deadline = time.monotonic() + WAIT_S
    while (line := metric_line(app, name)) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"/metrics showed {line!r} after {WAIT_S} s, expected {expected!r}")
        time.sleep(0.1)
