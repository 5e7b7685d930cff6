"""Private servers and running apps for tests: the building blocks of the fixtures."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import uvicorn
from starlette.applications import Starlette

from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings
from cdc.reader import ReaderSettings
from cdc.stream import StreamSettings
from cdc.tables import TableFilter
from rowcast.private_server import PrivateServer, find_server_binary, free_port
from web.app import begin_shutdown, create_app
from web.send_watch import TrackedHttpProtocol
from web.state import AppSettings, AppState, app_state

READER_PASSWORD = "reader-demo-pw"
SCHEDULER_PASSWORD = "scheduler-demo-pw"


def start_server(base_dir: Path, *extra_options: str) -> PrivateServer:
    """Start a private server from mysql-conf/ with optional extra mysqld options."""
    binary = find_server_binary()
    if binary is None:
        pytest.fail("No mysqld or mariadbd found; .ci/run installs mariadb-server.")
    server = PrivateServer(base_dir, free_port(), binary, tuple(extra_options))
    server.start()
    return server


# Each app's reader takes one id and its catch-up readers the next four.
_server_ids = itertools.count(5001, 5)


@dataclass
class RunningApp:
    """A rowcast web app served by uvicorn on 127.0.0.1 in a background thread."""

    base_url: str
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")

    @property
    def state(self) -> AppState:
        return app_state(self.app)

    def stop(self) -> None:
        """Shut down as on SIGTERM: end open streams, then stop uvicorn."""
        self.state.stream.loop.call_soon_threadsafe(begin_shutdown, self.app)
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_app(
    connection: ConnectionSettings,
    tables: str | TableFilter = "robots.task",
    hub: HubSettings | None = None,
    port: int | None = None,
    reader_options: dict[str, Any] | None = None,
    **app_options: Any,
) -> RunningApp:
    """Serve a new app, on a free port unless given; each app gets its own replica ids.

    reader_options override ReaderSettings fields; app_options override AppSettings fields.
    """
    table_filter = TableFilter.parse(tables) if isinstance(tables, str) else tables
    reader = ReaderSettings(connection, table_filter, server_id=next(_server_ids),
                            heartbeat_s=0.5)
    reader = dataclasses.replace(reader, **(reader_options or {}))
    app_options = {"ping_s": 5.0, **app_options}
    settings = AppSettings(StreamSettings(reader, hub or HubSettings()), **app_options)
    port = port or free_port()
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
                            timeout_graceful_shutdown=2, ws_per_message_deflate=False,
                            http=TrackedHttpProtocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"The app on port {port} did not start; see the log")
        time.sleep(0.02)
    return RunningApp(f"http://127.0.0.1:{port}", app, server, thread)


@contextlib.contextmanager
def body_table(root: pymysql.Connection, table: str, rows: int, body_type: str) -> Iterator[None]:
    """Create robots.<table> (id, body) with rows empty bodies, and drop it on exit."""
    with root.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS robots.{table}")
        cursor.execute(f"CREATE TABLE robots.{table} (id INT PRIMARY KEY, body {body_type})")
        cursor.executemany(f"INSERT INTO robots.{table} VALUES (%s, '')",
                           [(row,) for row in range(1, rows + 1)])
    try:
        yield
    finally:
        with root.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS robots.{table}")


def update_bodies(
    server: PrivateServer, table: str, rounds: int, body_chars: int,
    read_round: Callable[[], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Set the body of every row of robots.<table> once a round, and call read_round after each.

    Each round's body is new, so every row changes every round. Returns what
    the read_round calls returned, in order.
    """
    connection = server.root_connection("robots")
    changes: list[dict[str, Any]] = []
    try:
        with connection.cursor() as cursor:
            for round_number in range(rounds):
                body = f"{round_number:05d} " + "abcdefghij"[round_number % 10] * body_chars
                cursor.execute(f"UPDATE {table} SET body = %s", (body,))
                changes += read_round()
    finally:
        connection.close()
    return changes


def purge_older_binlogs(root: pymysql.Connection) -> None:
    """Rotate the binlog and purge the older files.

    The server keeps a file while a replica still reads it, so this retries
    until the live reader has moved on to the new file.
    """
    with root.cursor() as cursor:
        cursor.execute("FLUSH BINARY LOGS")
        cursor.execute("SHOW MASTER STATUS")
        current_file = cursor.fetchone()[0]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            cursor.execute("PURGE BINARY LOGS TO %s", (current_file,))
            cursor.execute("SHOW BINARY LOGS")
            if [row[0] for row in cursor.fetchall()] == [current_file]:
                return
            time.sleep(0.1)
    raise AssertionError(f"binlogs before {current_file} were not purged")
