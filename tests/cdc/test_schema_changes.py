"""ALTER TABLE while changes flow: every event carries the columns in force at its commit."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest

from cdc.connection import ConnectionSettings
from clients import SseClient
from servers import RunningApp, start_app


@pytest.fixture
def shapes_app(reader_settings: ConnectionSettings, root: pymysql.Connection) -> Iterator[RunningApp]:
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.shapes")
        cursor.execute("CREATE TABLE robots.shapes (id INT PRIMARY KEY, a INT, b INT)")
    app = start_app(reader_settings, tables="robots.shapes")
    yield app
    app.stop()
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.shapes")


def test_drop_column_then_update(shapes_app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{shapes_app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.shapes VALUES (1, 10, 20)")
        cursor.execute("ALTER TABLE robots.shapes DROP COLUMN a")
        cursor.execute("UPDATE robots.shapes SET b = 21 WHERE id = 1")
    insert, update = client.changes(2)
    client.close()
    assert insert["after"] == {"id": 1, "a": 10, "b": 20}
    assert update["before"] == {"id": 1, "b": 20}
    assert update["after"] == {"id": 1, "b": 21}


# Each step: a statement, then the column names a row event after it must carry.
ALTER_SCRIPT = [
    ("ALTER TABLE robots.shapes ADD COLUMN c VARCHAR(10) DEFAULT 'x'", ["id", "a", "b", "c"]),
    ("ALTER TABLE robots.shapes DROP COLUMN a", ["id", "b", "c"]),
    ("ALTER TABLE robots.shapes CHANGE COLUMN b renamed INT", ["id", "renamed", "c"]),
    ("ALTER TABLE robots.shapes MODIFY COLUMN c VARCHAR(10) FIRST", ["c", "id", "renamed"]),
    ("ALTER TABLE robots.shapes MODIFY COLUMN renamed VARCHAR(20)", ["c", "id", "renamed"]),
    ("ALTER TABLE robots.shapes ADD COLUMN d DECIMAL(6,2) AFTER id", ["c", "id", "d", "renamed"]),
]


def test_alter_script_keeps_columns_right(shapes_app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{shapes_app.base_url}/events")
    client.next("status")
    expected: list[list[str]] = []
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.shapes (id, a, b) VALUES (1, 1, 1)")
        expected.append(["id", "a", "b"])
        for step, (statement, columns) in enumerate(ALTER_SCRIPT, start=2):
            cursor.execute(statement)
            cursor.execute("INSERT INTO robots.shapes (id) VALUES (%s)", (step,))
            expected.append(columns)
            cursor.execute("DELETE FROM robots.shapes WHERE id = %s", (step - 1,))
            expected.append(columns)
    changes = client.changes(len(expected))
    client.close()
    for change, columns in zip(changes, expected):
        image = change["after"] or change["before"]
        assert list(image) == columns


def test_retyped_column_renders_new_type(shapes_app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{shapes_app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.shapes VALUES (1, 7, 8)")
        cursor.execute("ALTER TABLE robots.shapes MODIFY COLUMN a DECIMAL(5,2)")
        cursor.execute("UPDATE robots.shapes SET b = 9 WHERE id = 1")
    insert, update = client.changes(2)
    client.close()
    assert insert["after"]["a"] == 7
    assert update["before"]["a"] == "7.00"
    assert update["after"]["a"] == "7.00"
