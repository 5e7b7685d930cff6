"""The demo's start-up probe finds which privileges on robots.task an account lacks."""

from __future__ import annotations

import pymysql

from cdc.connection import ConnectionSettings
from scheduler.store import missing_privileges


def test_scheduler_account_lacks_nothing(scheduler_settings: ConnectionSettings) -> None:
    connection = scheduler_settings.connect()
    try:
        assert missing_privileges(connection) == []
    finally:
        connection.close()


def test_reader_account_lacks_writes(
    reader_settings: ConnectionSettings, root: pymysql.Connection
) -> None:
    with root.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM robots.task")
        before = cursor.fetchone()
    connection = reader_settings.connect()
    try:
        assert missing_privileges(connection) == ["INSERT", "UPDATE", "DELETE"]
    finally:
        connection.close()
    with root.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM robots.task")
        assert cursor.fetchone() == before
