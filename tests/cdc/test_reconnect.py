"""The stream survives a database restart: status notices, then every later change."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent
from cdc.hub import Item, Notice, Subscription
from cdc.reader import ReaderSettings
from cdc.stream import ChangeStream, StreamSettings
from cdc.tables import TableFilter
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE
from rowcast.private_server import PrivateServer
from servers import READER_PASSWORD, start_server

WAIT_S = 30.0


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[PrivateServer]:
    """Start a server this test may stop and start again."""
    server = start_server(tmp_path / "restart")
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    yield server
    server.stop()


def insert_task(server: PrivateServer, task_id: int) -> None:
    connection = server.root_connection("robots")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO task (Task_ID, Robot_ID, Status) VALUES (%s, 1, 'SCHEDULED')",
                       (task_id,))
    connection.close()


async def next_item(subscription: Subscription, pending: list[Item]) -> Item:
    while not pending:
        pending.extend(await asyncio.wait_for(subscription.next_batch(), WAIT_S))
    return pending.pop(0)


async def next_change(subscription: Subscription, pending: list[Item]) -> ChangeEvent:
    while True:
        item = await next_item(subscription, pending)
        if isinstance(item, ChangeEvent):
            return item


async def next_state(subscription: Subscription, pending: list[Item], state: str) -> Notice:
    while True:
        item = await next_item(subscription, pending)
        if isinstance(item, Notice) and item.data.get("state") == state:
            return item


def test_stream_resumes_after_server_restart(own_server: PrivateServer) -> None:
    connection = ConnectionSettings("127.0.0.1", own_server.port, "rowcast_reader",
                                    READER_PASSWORD, "robots")
    settings = ReaderSettings(connection, TableFilter.parse("robots.task"), server_id=7201,
                              heartbeat_s=0.5, reconnect_min_s=0.2, reconnect_max_s=1.0)

    async def scenario() -> None:
        stream = ChangeStream(StreamSettings(settings))
        await stream.start()
        subscription = stream.hub.subscribe(None, lambda event: True)
        pending: list[Item] = []
        await asyncio.to_thread(insert_task, own_server, 1)
        assert (await next_change(subscription, pending)).key == {"Task_ID": 1}

        await asyncio.to_thread(own_server.stop)
        reconnecting = await next_state(subscription, pending, "reconnecting")
        assert "reconnecting" in reconnecting.data["message"]
        await asyncio.to_thread(own_server.start)
        await next_state(subscription, pending, "live")

        await asyncio.to_thread(insert_task, own_server, 2)
        await asyncio.to_thread(insert_task, own_server, 3)
        after = [await next_change(subscription, pending) for _ in range(2)]
        assert [event.key for event in after] == [{"Task_ID": 2}, {"Task_ID": 3}]
        await stream.stop()

    asyncio.run(scenario())
