"""An idle SSE stream gets heartbeat comments, and HEAD /events opens no stream."""

from __future__ import annotations

import socket
import time

import httpx
from servers import RunningApp, start_app

from cdc.connection import ConnectionSettings

WAIT_S = 30.0
HEARTBEAT_S = 0.4


def read_until(raw: socket.socket, marker: bytes, timeout_s: float) -> bytes:
    """Read from raw until marker arrives; return everything read."""
    raw.settimeout(timeout_s)
    received = b""
    while marker not in received:
        data = raw.recv(65536)
        if not data:
            raise ConnectionError(f"the stream ended before {marker!r}: {received[-300:]!r}")
        received += data
    return received


def test_idle_stream_gets_heartbeats(reader_settings: ConnectionSettings) -> None:
    app = start_app(reader_settings, ping_s=HEARTBEAT_S)
    host, port = app.base_url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            read_until(raw, b"event: status", WAIT_S)
            started = time.monotonic()
            first = read_until(raw, b": ping - ", WAIT_S)
            second = read_until(raw, b": ping - ", WAIT_S)
            waited = time.monotonic() - started
    finally:
        app.stop()
    assert b"event: change" not in first + second
    # Two heartbeats of an idle stream are at least one interval apart.
    assert waited >= HEARTBEAT_S


def test_head_opens_no_stream(app: RunningApp) -> None:
    reply = httpx.head(app.base_url + "/events", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.content == b""
    assert app.state.stream.hub.subscriber_count == 0
    assert app.state.slots.open["sse"] == 0
