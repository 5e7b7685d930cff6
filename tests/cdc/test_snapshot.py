"""A snapshot plus the changes after its id equals the table, while writes go on."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pymysql
import pytest

import cdc.snapshot
from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent
from cdc.reader import ReaderSettings
from cdc.snapshot import Snapshot
from cdc.stream import ChangeStream, StreamSettings
from cdc.tables import TableFilter
from rowcast.private_server import PrivateServer

WRITES = 600
# The writer waits for a snapshot after each of these many writes, so that
# several snapshots fall among the writes however fast the machine writes.
WRITES_PER_SNAPSHOT = 150
SNAPSHOT_WAIT_S = 30.0


def write_randomly(
    server: PrivateServer, seed: int, done: threading.Event, snapshot_taken: threading.Event
) -> None:
    """Insert, update and delete rows of robots.items in small transactions."""
    rng = random.Random(seed)
    connection = server.root_connection("robots")
    try:
        with connection.cursor() as cursor:
            for step in range(WRITES):
                if step and step % WRITES_PER_SNAPSHOT == 0:
                    snapshot_taken.clear()
                    snapshot_taken.wait(SNAPSHOT_WAIT_S)
                row_id = rng.randint(1, 40)
                choice = rng.random()
                if choice < 0.4:
                    cursor.execute(
                        "INSERT INTO items VALUES (%s, %s) ON DUPLICATE KEY UPDATE value = value + 1",
                        (row_id, step))
                elif choice < 0.8:
                    cursor.execute("UPDATE items SET value = %s WHERE id = %s", (step, row_id))
                else:
                    cursor.execute("DELETE FROM items WHERE id = %s", (row_id,))
    finally:
        connection.close()
        done.set()


def apply(rows: dict[Any, dict[str, Any]], event: ChangeEvent) -> None:
    if event.before is not None:
        rows.pop(event.before["id"], None)
    if event.after is not None:
        rows[event.after["id"]] = event.after


@pytest.mark.parametrize("exact_position", [True, False], ids=["exact", "replay"])
def test_snapshots_during_writes_match_table(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, root: pymysql.Connection,
    monkeypatch: pytest.MonkeyPatch, exact_position: bool,
) -> None:
    if not exact_position:
        # The MySQL path: no read-view position from the server, so changes are replayed.
        monkeypatch.setattr(cdc.snapshot, "snapshot_position", lambda link, source: None)
    with root.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS robots.items (id INT PRIMARY KEY, value INT)")
        cursor.execute("DELETE FROM robots.items")
        cursor.execute("INSERT INTO robots.items VALUES (1, 0), (2, 0), (3, 0)")

    async def scenario() -> None:
        settings = StreamSettings(ReaderSettings(
            reader_settings, TableFilter.parse("robots.items"), server_id=7101, heartbeat_s=0.5))
        stream = ChangeStream(settings)
        await stream.start()
        done = threading.Event()
        snapshot_taken = threading.Event()
        writer = asyncio.create_task(
            asyncio.to_thread(write_randomly, mysql_server, 7, done, snapshot_taken))
        taken: list[tuple[Snapshot, Any]] = []
        while not done.is_set():
            snapshot = await stream.snapshot("robots", "items")
            subscription = stream.hub.subscribe(snapshot.last_id, lambda event: True)
            taken.append((snapshot, subscription))
            snapshot_taken.set()
            await asyncio.sleep(0.05)
        await writer
        final = await stream.snapshot("robots", "items")
        for snapshot, subscription in taken:
            rows = {row["id"]: row for row in snapshot.rows}
            seen: set[Any] = set()
            for item in subscription.pending_items():
                if isinstance(item, ChangeEvent) and item.id <= final.last_id:
                    assert item.id not in seen
                    seen.add(item.id)
                    apply(rows, item)
            assert sorted(rows.values(), key=lambda row: row["id"]) == final.rows
        await stream.stop()
        assert len(taken) >= 3

    asyncio.run(scenario())
    with root.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("SELECT id, value FROM robots.items ORDER BY id")
        table = cursor.fetchall()
    assert table == asyncio.run(_final_rows(reader_settings))


async def _final_rows(reader_settings: ConnectionSettings) -> list[dict[str, Any]]:
    settings = StreamSettings(ReaderSettings(
        reader_settings, TableFilter.parse("robots.items"), server_id=7102, heartbeat_s=0.5))
    stream = ChangeStream(settings)
    await stream.start()
    snapshot = await stream.snapshot("robots", "items")
    await stream.stop()
    return snapshot.rows


def test_keyless_table_keeps_equal_rows(
    reader_settings: ConnectionSettings, root: pymysql.Connection
) -> None:
    with root.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS robots.keyless (n INT, word VARCHAR(10))")
        cursor.execute("DELETE FROM robots.keyless")
        cursor.execute("INSERT INTO robots.keyless VALUES (1, 'x'), (1, 'x'), (2, 'y')")

    async def scenario() -> list[dict[str, Any]]:
        settings = StreamSettings(ReaderSettings(
            reader_settings, TableFilter.parse("robots.keyless"), server_id=7111, heartbeat_s=0.5))
        stream = ChangeStream(settings)
        await stream.start()
        snapshot = await stream.snapshot("robots", "keyless")
        await stream.stop()
        return snapshot.rows

    rows = asyncio.run(scenario())
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE robots.keyless")
    assert rows == [{"n": 1, "word": "x"}, {"n": 1, "word": "x"}, {"n": 2, "word": "y"}]
