"""Fixtures: one private database server per test session, seeded per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from cdc.connection import ConnectionSettings
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
