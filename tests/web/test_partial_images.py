"""Partial row images: refused by default, streamed with their absent columns listed when allowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from clients import SseClient, SseMessage
from reader_apps import start_reader_app
from servers import RunningApp

from cdc.connection import ConnectionSettings
from cdc.tables import TableFilter
from rowcast.private_server import PrivateServer

TASKS = TableFilter.parse("robots.task")


@pytest.fixture
def minimal_writer(mysql_server: PrivateServer, seeded_tasks: pymysql.Connection) -> Iterator[Any]:
    """Return a root connection whose session logs minimal row images."""
    connection = mysql_server.root_connection()
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION binlog_row_image = 'MINIMAL'")
    yield connection
    connection.close()


def next_messages_until_failed(client: SseClient) -> list[SseMessage]:
    """Return the messages up to and including the first `failed` status."""
    messages = []
    while not messages or messages[-1].data.get("state") != "failed":
        messages.append(client.next(None))
    return messages


def start_tasks_app(reader_settings: ConnectionSettings, allow: bool) -> RunningApp:
    return start_reader_app(reader_settings, TASKS, allow_partial_images=allow)


def test_partial_image_stops_reader(reader_settings: ConnectionSettings, minimal_writer: Any) -> None:
    app = start_tasks_app(reader_settings, allow=False)
    try:
        client = SseClient(f"{app.base_url}/events")
        assert client.next("status").data["state"] in ("live", "starting")
        with minimal_writer.cursor() as cursor:
            cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
        messages = next_messages_until_failed(client)
        client.close()
    finally:
        app.stop()
    assert [message.event for message in messages if message.event == "change"] == []
    text = messages[-1].data["message"]
    assert "robots.task" in text
    assert "binlog_row_image" in text
    assert "SET GLOBAL binlog_row_image = 'FULL'" in text
    assert "--allow-partial-images" in text


def test_allowed_partial_image_lists_missing(
    reader_settings: ConnectionSettings, minimal_writer: Any
) -> None:
    app = start_tasks_app(reader_settings, allow=True)
    try:
        client = SseClient(f"{app.base_url}/events")
        client.next("status")
        with minimal_writer.cursor() as cursor:
            cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
        change = client.changes(1)[0]
        client.close()
    finally:
        app.stop()
    assert change["key"] == {"Task_ID": 3}
    assert change["before"] == {"Task_ID": 3}
    assert change["after"]["Status"] == "REJECTED"
    assert "Task_Name" not in change["after"]
    assert "Task_Name" in change["missing"]["before"]
    assert "Task_Name" in change["missing"]["after"]
    assert "Task_ID" not in change["missing"]["before"]
    assert None not in change["before"].values()
    assert None not in change["after"].values()


def test_full_image_has_no_missing(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
    change = client.changes(1)[0]
    client.close()
    assert "missing" not in change
