"""Change events name the columns that form their key, and keyless tables key by the whole row."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest
from clients import SseClient
from servers import RunningApp, start_app

from cdc.connection import ConnectionSettings


@pytest.fixture
def keyless_app(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> Iterator[RunningApp]:
    with seeded_tasks.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.keyless_log")
        cursor.execute("CREATE TABLE robots.keyless_log (robot INT, note VARCHAR(40))")
    running = start_app(reader_settings, tables="robots.task,robots.keyless_log")
    yield running
    running.stop()
    with seeded_tasks.cursor() as cursor:
        cursor.execute("DROP TABLE robots.keyless_log")


def test_keyed_change_lists_key_columns(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
    change = client.changes(1)[0]
    client.close()
    assert change["key_columns"] == ["Task_ID"]
    assert change["key"] == {"Task_ID": 3}


def test_keyless_change_keys_by_whole_row(
    keyless_app: RunningApp, root: pymysql.Connection
) -> None:
    client = SseClient(f"{keyless_app.base_url}/events?table=robots.keyless_log")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.keyless_log VALUES (1, 'oiled')")
        cursor.execute("UPDATE robots.keyless_log SET note = 'charged' WHERE robot = 1")
        cursor.execute("DELETE FROM robots.keyless_log WHERE robot = 1")
    insert, update, delete = client.changes(3)
    client.close()
    for change in (insert, update, delete):
        assert change["key_columns"] == []
    assert insert["key"] == {"robot": 1, "note": "oiled"}
    assert update["key"] == {"robot": 1, "note": "charged"}
    assert update["before"] == {"robot": 1, "note": "oiled"}
    assert delete["key"] == {"robot": 1, "note": "charged"}
