"""Fixtures: one private database server per test session, seeded per test."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest

from cdc.connection import ConnectionSettings
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE, SEED_FILE
from rowcast.private_server import PrivateServer, run_script
from servers import READER_PASSWORD, SCHEDULER_PASSWORD, RunningApp, start_app, start_server


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


@pytest.fixture
def app(reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection) -> Iterator[RunningApp]:
    """Serve the app for robots.task over the seeded table."""
    running = start_app(reader_settings)
    yield running
    running.stop()
