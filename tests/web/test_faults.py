"""Faults: a killed binlog connection, a crashing reader, vanished clients, bad messages."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import httpx
import pymysql
import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from cdc.connection import ConnectionSettings
from cdc.reader import BinlogReader
from clients import SseClient, WsClient
from servers import RunningApp, start_app

WAIT_S = 15.0


def insert_tasks(root: pymysql.Connection, first: int, count: int) -> None:
    with root.cursor() as cursor:
        for task_id in range(first, first + count):
            cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Status) "
                           "VALUES (%s, 1, 'SCHEDULED')", (task_id,))


def keys(changes: list[dict[str, object]]) -> list[object]:
    return [change["key"] for change in changes]


def test_killed_binlog_connection_loses_nothing(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    insert_tasks(root, 100, 3)
    with root.cursor() as cursor:
        cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
        for (thread_id,) in cursor.fetchall():
            cursor.execute(f"KILL {int(thread_id)}")
    insert_tasks(root, 103, 3)
    changes = client.changes(6)
    client.close()
    assert keys(changes) == [{"Task_ID": task_id} for task_id in range(100, 106)]


def test_reader_crash_restarts_without_loss(
    monkeypatch: pytest.MonkeyPatch, reader_settings: ConnectionSettings,
    seeded_tasks: pymysql.Connection,
) -> None:
    original = BinlogReader._on_rows
    crashes = []

    def crash_once(self: BinlogReader, *arguments: Any) -> None:
        if not crashes:
            crashes.append(arguments)
            raise RuntimeError("decoder bug for the test")
        original(self, *arguments)

    monkeypatch.setattr(BinlogReader, "_on_rows", crash_once)
    app = start_app(reader_settings)
    try:
        client = SseClient(f"{app.base_url}/events")
        client.next("status")
        insert_tasks(seeded_tasks, 200, 3)
        statuses = []
        changes = []
        while len(changes) < 3:
            message = client.next(None)
            if message.event == "status":
                statuses.append(message.data["state"])
            elif message.event == "change":
                changes.append(message.data)
        client.close()
        healthy = httpx.get(app.base_url + "/healthz", timeout=10).status_code
    finally:
        app.stop()
    assert len(crashes) == 1
    assert "reconnecting" in statuses
    assert keys(changes) == [{"Task_ID": task_id} for task_id in range(200, 203)]
    assert healthy == 200


def subscriber_count(app: RunningApp) -> int:
    return app.state.stream.hub.subscriber_count


def wait_for_subscribers(app: RunningApp, count: int) -> int:
    deadline = time.monotonic() + WAIT_S
    while subscriber_count(app) != count and time.monotonic() < deadline:
        time.sleep(0.05)
    return subscriber_count(app)


def test_vanished_clients_are_released(app: RunningApp) -> None:
    host, port = app.base_url.removeprefix("http://").split(":")
    for path in ("/events", "/ws"):
        raw = socket.create_connection((host, int(port)))
        if path == "/events":
            raw.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        else:
            raw.sendall(
                f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        raw.recv(1024)
        assert wait_for_subscribers(app, 1) == 1
        # SO_LINGER with a zero timeout makes close() send a reset, as a crashed client would.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
        httpx.get(app.base_url + "/healthz", timeout=10)
        assert wait_for_subscribers(app, 0) == 0


def receive_skipping_status(websocket: ClientConnection) -> str:
    """Return the next message that is not a reader status notice."""
    while True:
        message = str(websocket.recv(timeout=WAIT_S))
        if '"type":"status"' not in message:
            return message


@pytest.mark.parametrize(
    ("message", "fragment"),
    [("not json", "not valid JSON"), ('{"type": "subscribe"}', "Unknown message"),
     ("x" * 5000, "over the limit"), ('{"type": "ping"}', None)],
)
def test_websocket_bad_messages_answered(
    app: RunningApp, root: pymysql.Connection, message: str, fragment: str | None
) -> None:
    other = WsClient(f"{app.ws_url}/ws")
    other.next("status")
    with ws_connect(f"{app.ws_url}/ws", open_timeout=WAIT_S) as websocket:
        websocket.send(message)
        reply = receive_skipping_status(websocket)
        insert_tasks(root, 300, 1)
        change = receive_skipping_status(websocket)
    other_change = other.next("change")
    other.close()
    if fragment is None:
        assert '"type":"pong"' in str(reply)
    else:
        assert '"type":"error"' in str(reply)
        assert fragment in str(reply)
    assert '"type":"change"' in str(change)
    assert other_change["key"] == {"Task_ID": 300}
