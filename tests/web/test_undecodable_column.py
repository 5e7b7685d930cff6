"""A column the reader cannot decode stops the stream with status `failed` and the fix."""

from __future__ import annotations

import pymysql
from clients import SseClient
from servers import start_app

from cdc.connection import ConnectionSettings

MAX_MESSAGES = 50


def test_unknown_charset_fails_stream(
    reader_settings: ConnectionSettings, root: pymysql.Connection
) -> None:
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.swe7_notes")
        cursor.execute(
            "CREATE TABLE robots.swe7_notes (id INT PRIMARY KEY, v VARCHAR(5) CHARACTER SET swe7)")
    app = start_app(reader_settings, tables="robots.swe7_notes")
    try:
        client = SseClient(f"{app.base_url}/events")
        client.next("status")
        with root.cursor() as cursor:
            cursor.execute("INSERT INTO robots.swe7_notes VALUES (1, 'abc')")
        states = []
        while "failed" not in states and len(states) < MAX_MESSAGES:
            message = client.next("status")
            states.append(message.data["state"])
        client.close()
    finally:
        app.stop()
        with root.cursor() as cursor:
            cursor.execute("DROP TABLE robots.swe7_notes")
    assert states[-1] == "failed"
    assert "reconnecting" not in states
    assert "robots.swe7_notes.v" in message.data["message"]
    assert "utf8mb4" in message.data["message"]
