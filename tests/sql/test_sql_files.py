"""Schema, seed and accounts load on a real server and do what the demo relies on."""

from __future__ import annotations

import pymysql
import pytest

from cdc.connection import ConnectionSettings

STATUSES = {"SCHEDULED", "ACTIVE", "COMPLETED", "PREEMPTED", "REJECTED"}


def fetch(connection: pymysql.Connection, sql: str) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def test_seed_has_five_robots_ten_tasks(seeded_tasks: pymysql.Connection) -> None:
    assert fetch(seeded_tasks, "SELECT COUNT(*) FROM robots.task") == [(10,)]
    assert fetch(seeded_tasks, "SELECT COUNT(DISTINCT Robot_ID) FROM robots.task") == [(5,)]
    statuses = {row[0] for row in fetch(seeded_tasks, "SELECT DISTINCT Status FROM robots.task")}
    assert statuses == STATUSES


def test_seed_times_are_times_of_day(seeded_tasks: pymysql.Connection) -> None:
    rows = fetch(seeded_tasks, "SELECT Issued_Time, Scheduled_Time FROM robots.task")
    for issued, scheduled in rows:
        for value in (issued, scheduled):
            assert 0 <= value.total_seconds() < 86_400


def test_robot_index_is_not_unique(root: pymysql.Connection) -> None:
    rows = fetch(root, "SHOW INDEX FROM robots.task WHERE Column_name = 'Robot_ID'")
    assert len(rows) == 1
    non_unique = rows[0][1]
    assert non_unique == 1


def test_task_name_is_utf8mb4(seeded_tasks: pymysql.Connection) -> None:
    with seeded_tasks.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_Name = 'Lift 📦 crate' WHERE Task_ID = 1")
    assert fetch(seeded_tasks, "SELECT Task_Name FROM robots.task WHERE Task_ID = 1") == [("Lift 📦 crate",)]


def test_status_outside_list_rejected(seeded_tasks: pymysql.Connection) -> None:
    with pytest.raises(pymysql.err.OperationalError, match="task_status_valid"):
        with seeded_tasks.cursor() as cursor:
            cursor.execute("UPDATE robots.task SET Status = 'PAUSED' WHERE Task_ID = 1")


def test_reader_account_cannot_write(reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection) -> None:
    connection = reader_settings.connect()
    try:
        assert fetch(connection, "SELECT COUNT(*) FROM robots.task") == [(10,)]
        with pytest.raises(pymysql.err.OperationalError, match="UPDATE command denied"):
            with connection.cursor() as cursor:
                cursor.execute("UPDATE robots.task SET Status = 'ACTIVE' WHERE Task_ID = 1")
    finally:
        connection.close()


def test_scheduler_account_limited_to_task(scheduler_settings: ConnectionSettings, root: pymysql.Connection) -> None:
    with root.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS robots.secret (id INT PRIMARY KEY)")
    connection = scheduler_settings.connect()
    try:
        with pytest.raises(pymysql.err.OperationalError, match="SELECT command denied"):
            fetch(connection, "SELECT * FROM robots.secret")
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            fetch(connection, "SHOW MASTER STATUS")
    finally:
        connection.close()
