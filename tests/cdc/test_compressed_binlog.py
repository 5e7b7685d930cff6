"""Compressed binlog events stop the reader with the fix; their changes are never skipped silently."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clients import SseClient
from servers import READER_PASSWORD, start_app, start_server

from cdc.connection import ConnectionSettings
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE
from rowcast.private_server import PrivateServer


@pytest.fixture(scope="module")
def compressing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    server = start_server(tmp_path_factory.mktemp("compressed"))
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    connection = server.root_connection()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE robots.notes (id INT PRIMARY KEY, body TEXT)")
    connection.close()
    yield server
    server.stop()


def test_compressed_rows_stop_reader(compressing_server: PrivateServer) -> None:
    reader = ConnectionSettings("127.0.0.1", compressing_server.port, "rowcast_reader",
                                READER_PASSWORD, "robots")
    app = start_app(reader, tables="robots.notes")
    root = compressing_server.root_connection()
    try:
        client = SseClient(f"{app.base_url}/events")
        assert client.next("status").data["state"] in ("live", "starting")
        with root.cursor() as cursor:
            cursor.execute("SET GLOBAL log_bin_compress = ON")
            # MariaDB compresses only events longer than log_bin_compress_min_len (256 bytes).
            cursor.execute("INSERT INTO robots.notes VALUES (1, %s)", ("compress me " * 200,))
        messages = []
        while not messages or messages[-1].data.get("state") != "failed":
            messages.append(client.next(None))
        client.close()
    finally:
        with root.cursor() as cursor:
            cursor.execute("SET GLOBAL log_bin_compress = OFF")
        root.close()
        app.stop()
    assert [message.event for message in messages if message.event == "change"] == []
    text = messages[-1].data["message"]
    assert "log_bin_compress = ON" in text
    assert "SET GLOBAL log_bin_compress = OFF" in text
    assert "ROWS_COMPRESSED_EVENT" in text
