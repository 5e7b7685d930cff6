"""Resuming by id: from the buffer, from the binlog beyond it, across streamer restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pymysql
import pytest

from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings
from clients import SseClient
from rowcast.private_server import PrivateServer, free_port
from servers import purge_older_binlogs, start_app


def write_updates(server: PrivateServer, count: int, start: int = 0) -> None:
    """Commit count single-row updates that cycle through the ten seed tasks.

    Each update writes a name no row had before, because an UPDATE that changes
    nothing writes no row event.
    """
    connection = server.root_connection("robots")
    with connection.cursor() as cursor:
        for number in range(start, start + count):
            cursor.execute("UPDATE task SET Task_Name = %s WHERE Task_ID = %s",
                           (f"write {number}", number % 10 + 1))
    connection.close()


def watch_updates(base_url: str, server: PrivateServer, count: int) -> list[dict[str, Any]]:
    """Write count updates while a new stream watches, and return the changes it received."""
    first = SseClient(f"{base_url}/events")
    first.next("status")
    write_updates(server, count)
    changes = first.changes(count)
    first.close()
    return changes


def names(changes: list[dict[str, Any]]) -> list[str]:
    return [change["after"]["Task_Name"] for change in changes]


def test_resume_beyond_buffer_reads_binlog(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> None:
    app = start_app(reader_settings, hub=HubSettings(buffer_events=5))
    try:
        changes = watch_updates(app.base_url, mysql_server, 40)
        assert names(changes) == [f"write {number}" for number in range(40)]

        for cut in (0, 7, 33, 34, 38):
            resumed = SseClient(f"{app.base_url}/events", headers={"Last-Event-ID": changes[cut]["id"]})
            replayed = resumed.changes(len(changes) - cut - 1)
            assert [change["id"] for change in replayed] == [c["id"] for c in changes[cut + 1:]]
            write_updates(mysql_server, 2, start=1000 + 10 * cut)
            live = resumed.changes(2)
            assert names(live) == [f"write {1000 + 10 * cut}", f"write {1001 + 10 * cut}"]
            resumed.close()
            changes += live
    finally:
        app.stop()


def test_resume_after_streamer_restart(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> None:
    first_app = start_app(reader_settings)
    client = SseClient(f"{first_app.base_url}/events")
    client.next("status")
    write_updates(mysql_server, 10)
    seen = client.changes(10)
    client.close()
    first_app.stop()

    write_updates(mysql_server, 15, start=10)
    second_app = start_app(reader_settings)
    try:
        resumed = SseClient(f"{second_app.base_url}/events", headers={"Last-Event-ID": seen[-1]["id"]})
        missed = resumed.changes(15)
        resumed.close()
    finally:
        second_app.stop()
    assert names(missed) == [f"write {number}" for number in range(10, 25)]


def test_purged_binlog_gets_reset(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection,
    root: pymysql.Connection,
) -> None:
    app = start_app(reader_settings, hub=HubSettings(buffer_events=2))
    try:
        client = SseClient(f"{app.base_url}/events")
        client.next("status")
        write_updates(mysql_server, 5)
        old = client.changes(5)
        client.close()
        purge_older_binlogs(root)
        resumed = SseClient(f"{app.base_url}/events?last_event_id={old[0]['id']}")
        reset = resumed.next("reset")
        write_updates(mysql_server, 1, start=50)
        after_reset = resumed.changes(1)
        resumed.close()
    finally:
        app.stop()
    assert reset.data["reason"] == "purged"
    assert "purged" in reset.data["message"]
    assert names(after_reset) == ["write 50"]


def shifted_offset(change: dict[str, Any], root: pymysql.Connection) -> str:
    """Return the change's id with its binlog offset one byte further: well formed, but never issued."""
    source, sequence, offset, row = change["id"].split("-")
    return f"{source}-{sequence}-{int(offset) + 1:012d}-{row}"


def inside_first_event(change: dict[str, Any], root: pymysql.Connection) -> str:
    """Return an id of the change's server and file at offset 100, inside the binlog's first event."""
    source, sequence, _, _ = change["id"].split("-")
    return f"{source}-{sequence}-{100:012d}-{1:010d}"


def at_row_event(change: dict[str, Any], root: pymysql.Connection) -> str:
    """Return an id at the row event of the change's transaction, so that reading starts after its table map."""
    source, sequence, offset, row = change["id"].split("-")
    with root.cursor() as cursor:
        cursor.execute(f"SHOW BINLOG EVENTS IN '{change['source']['file']}' FROM {int(offset)}")
        events = cursor.fetchall()
    position = next(event[1] for event in events if event[2].startswith("Update_rows"))
    return f"{source}-{sequence}-{position:012d}-{row}"


@pytest.mark.parametrize(("unissued_id", "reason"), [
    (shifted_offset, "unknown"), (inside_first_event, "unknown"), (at_row_event, "refused"),
])
def test_unreadable_resume_position_gets_reset(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings,
    seeded_tasks: pymysql.Connection, unissued_id: Callable[[dict[str, Any], pymysql.Connection], str],
    reason: str,
) -> None:
    app = start_app(reader_settings, hub=HubSettings(buffer_events=2))
    try:
        old = watch_updates(app.base_url, mysql_server, 5)
        bad_id = unissued_id(old[0], seeded_tasks)
        # More streams than the app has catch-up readers, all kept open, so a
        # reader that kept its slot after the reset would block the last ones.
        clients = [SseClient(f"{app.base_url}/events?last_event_id={bad_id}") for _ in range(6)]
        resets = [client.next("reset") for client in clients]
        write_updates(mysql_server, 1, start=60)
        after_reset = [client.changes(1) for client in clients]
        for client in clients:
            client.close()
    finally:
        app.stop()
    for reset in resets:
        assert reset.data["reason"] == reason
        assert bad_id in reset.data["message"]
        assert "reload the snapshot" in reset.data["message"]
        assert ".." not in reset.data["message"]
    for changes in after_reset:
        assert names(changes) == ["write 60"]


def test_sigkilled_streamer_loses_nothing(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "rowcast.cli", "serve", "--mysql-url", reader_settings.url(),
               "--http-port", str(port), "--server-id", "7301"]

    def start_serving() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=2).raise_for_status()
                return process
            except httpx.HTTPError:
                time.sleep(0.1)
        process.kill()
        raise AssertionError("rowcast serve did not start")

    total = 300
    writer = threading.Thread(target=write_updates, args=(mysql_server, total))
    process = start_serving()
    received: list[dict[str, Any]] = []
    try:
        client = SseClient(f"http://127.0.0.1:{port}/events")
        client.next("status")
        writer.start()
        received += client.changes(50)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with pytest.raises(Exception):
            while True:
                received.append(client.next("change", timeout=5).data)
        client.close()

        process = start_serving()
        while len(received) < total:
            client = SseClient(f"http://127.0.0.1:{port}/events",
                               headers={"Last-Event-ID": received[-1]["id"]})
            received += client.changes(min(40, total - len(received)))
            client.close()
        writer.join()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert names(received) == [f"write {number}" for number in range(total)]
    assert len({change["id"] for change in received}) == total
