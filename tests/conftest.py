"""Fixtures: one private database server per test session, seeded per test."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
import uvicorn
from starlette.applications import Starlette

from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings
from cdc.reader import ReaderSettings
from cdc.stream import StreamSettings
from cdc.tables import TableFilter
from web.app import begin_shutdown, create_app
from web.state import AppSettings, AppState, app_state
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE, SEED_FILE
from rowcast.private_server import PrivateServer, find_server_binary, free_port, run_script

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


@pytest.fixture(scope="session")
def mysql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    """Start the private server shared by the session, with schema and accounts."""
    server = start_server(tmp_path_factory.mktemp("mysql"))
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reader_settings(mysql_server: PrivateServer) -> ConnectionSettings:
    """Return the least-privilege reader account of the private server."""
    return ConnectionSettings("127.0.0.1", mysql_server.port, "rowcast_reader", READER_PASSWORD, "robots")


@pytest.fixture(scope="session")
def scheduler_settings(mysql_server: PrivateServer) -> ConnectionSettings:
    """Return the least-privilege scheduler account of the private server."""
    return ConnectionSettings(
        "127.0.0.1", mysql_server.port, "rowcast_scheduler", SCHEDULER_PASSWORD, "robots"
    )


@pytest.fixture
def root(mysql_server: PrivateServer) -> Iterator[pymysql.Connection]:
    """Open an autocommit root connection for setting up and editing rows."""
    connection = mysql_server.root_connection()
    yield connection
    connection.close()


@pytest.fixture
def seeded_tasks(root: pymysql.Connection) -> pymysql.Connection:
    """Reset robots.task to the ten seed rows; return the root connection."""
    with root.cursor() as cursor:
        cursor.execute("DELETE FROM robots.task")
    run_script(root, SEED_FILE.read_text(encoding="utf-8"))
    return root


_server_ids = itertools.count(5001)


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
    connection: ConnectionSettings, tables: str = "robots.task", hub: HubSettings | None = None
) -> RunningApp:
    """Serve a new app on a free port; each app reads with its own replica server id."""
    reader = ReaderSettings(connection, TableFilter.parse(tables), server_id=next(_server_ids),
                            heartbeat_s=0.5)
    settings = AppSettings(StreamSettings(reader, hub or HubSettings()), ping_s=5.0)
    port = free_port()
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port,
                            log_config=None, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"The app on port {port} did not start; see the log")
        time.sleep(0.02)
    return RunningApp(f"http://127.0.0.1:{port}", app, server, thread)


@pytest.fixture
def app(reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection) -> Iterator[RunningApp]:
    """Serve the app for robots.task over the seeded table."""
    running = start_app(reader_settings)
    yield running
    running.stop()
