"""A paused state subscriber catches up with the table from far fewer events than a log one."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pymysql

from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent
from cdc.hub import HubSettings, Item, Subscription
from cdc.reader import ReaderSettings
from cdc.stream import ChangeStream, StreamSettings
from cdc.server import current_position
from cdc.tables import TableFilter
from rowcast.private_server import PrivateServer

CHANGES = 10_000
WAIT_S = 120.0


def write_burst(server: PrivateServer) -> None:
    """Commit CHANGES row changes to robots.counters in transactions of 100."""
    rng = random.Random(11)
    connection = server.root_connection("robots")
    with connection.cursor() as cursor:
        for start in range(0, CHANGES, 100):
            cursor.execute("BEGIN")
            for number in range(start, start + 100):
                row_id = rng.randint(1, 50)
                if rng.random() < 0.1:
                    cursor.execute("DELETE FROM counters WHERE id = %s", (row_id,))
                    if cursor.rowcount:
                        continue
                cursor.execute(
                    "INSERT INTO counters VALUES (%s, %s) ON DUPLICATE KEY UPDATE value = %s",
                    (row_id, number, number))
            cursor.execute("COMMIT")
    connection.close()


async def drain(subscription: Subscription) -> list[ChangeEvent]:
    batch: list[Item] = await asyncio.wait_for(subscription.next_batch(), WAIT_S)
    return [item for item in batch if isinstance(item, ChangeEvent)]


def apply(table: dict[int, Any], event: ChangeEvent) -> None:
    if event.before is not None:
        table.pop(event.before["id"], None)
    if event.after is not None:
        table[event.after["id"]] = event.after["value"]


def test_paused_state_subscriber_gets_table(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings, root: pymysql.Connection
) -> None:
    with root.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS robots.counters (id INT PRIMARY KEY, value INT)")
        cursor.execute("DELETE FROM robots.counters")

    async def scenario() -> tuple[list[ChangeEvent], list[ChangeEvent]]:
        settings = StreamSettings(
            ReaderSettings(reader_settings, TableFilter.parse("robots.counters"),
                           server_id=7401, heartbeat_s=0.5),
            HubSettings(max_pending=20_000),
        )
        stream = ChangeStream(settings)
        await stream.start()
        state, _ = await stream.open(None, lambda event: True, coalesce=True)
        log, _ = await stream.open(None, lambda event: True)
        await asyncio.to_thread(write_burst, mysql_server)
        link = reader_settings.connect()
        end = current_position(link, stream.hub.position.source)
        link.close()
        await stream.hub.wait_for_position(end, WAIT_S)
        # Everything is queued now, so one batch each drains both subscribers.
        log_events = await drain(log)
        state_events = await drain(state)
        await stream.stop()
        return state_events, log_events

    state_events, log_events = asyncio.run(scenario())
    with root.cursor() as cursor:
        cursor.execute("SELECT id, value FROM robots.counters")
        final = dict(cursor.fetchall())
    state_table: dict[int, Any] = {}
    for event in state_events:
        apply(state_table, event)
    log_table: dict[int, Any] = {}
    for event in log_events:
        apply(log_table, event)
    assert state_table == final
    assert log_table == final
    assert len(log_events) >= CHANGES * 0.9
    assert len(state_events) <= 100
