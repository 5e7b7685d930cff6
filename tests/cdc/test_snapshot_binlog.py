"""A snapshot stays exact when the change buffer moves on while the table is read."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pymysql
import pytest

import cdc.snapshot
from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent
from cdc.hub import HubSettings
from cdc.reader import ReaderSettings
from cdc.stream import ChangeStream, StreamSettings
from cdc.tables import TableFilter
from rowcast.private_server import PrivateServer


def churn(server: PrivateServer, stop: threading.Event) -> None:
    """Update robots.churn rows until stop is set, at most 20,000 times."""
    connection = server.root_connection("robots")
    with connection.cursor() as cursor:
        for number in range(20_000):
            if stop.is_set():
                break
            cursor.execute("UPDATE churn SET value = %s WHERE id = %s", (number, number % 20 + 1))
    connection.close()


def test_tiny_buffer_snapshot_replays_binlog(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, root: pymysql.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The MySQL path: no read-view position from the server, so changes are replayed.
    monkeypatch.setattr(cdc.snapshot, "snapshot_position", lambda link, source: None)
    with root.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS robots.churn (id INT PRIMARY KEY, value INT)")
        cursor.execute("DELETE FROM robots.churn")
        cursor.executemany("INSERT INTO robots.churn VALUES (%s, -1)", [(n,) for n in range(1, 21)])

    async def scenario() -> None:
        settings = StreamSettings(
            ReaderSettings(reader_settings, TableFilter.parse("robots.churn"), server_id=7601,
                           heartbeat_s=0.5),
            HubSettings(buffer_events=3),
        )
        stream = ChangeStream(settings)
        await stream.start()
        stop = threading.Event()
        writer = asyncio.create_task(asyncio.to_thread(churn, mysql_server, stop))
        taken = []
        for _ in range(15):
            snapshot = await stream.snapshot("robots", "churn")
            subscription, reset = await stream.open(snapshot.last_id, lambda event: True)
            assert reset is None
            taken.append((snapshot, subscription))
        stop.set()
        await writer
        with root.cursor() as cursor:
            cursor.execute("UPDATE robots.churn SET value = -999 WHERE id = 20")
        final = await stream.snapshot("robots", "churn")
        for snapshot, subscription in taken:
            rows: dict[Any, Any] = {row["id"]: row for row in snapshot.rows}
            marker_seen = False
            while not marker_seen:
                batch = await asyncio.wait_for(subscription.next_batch(), 30)
                for item in batch:
                    if isinstance(item, ChangeEvent) and item.after is not None:
                        rows[item.after["id"]] = item.after
                        marker_seen = marker_seen or item.after["value"] == -999
            assert sorted(rows.values(), key=lambda row: row["id"]) == final.rows
        await stream.stop()

    asyncio.run(scenario())
