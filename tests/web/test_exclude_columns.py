"""Excluded columns never appear in change events, keys or snapshots."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pymysql
import pytest
from clients import SseClient
from reader_apps import start_reader_app
from servers import READER_PASSWORD, RunningApp

from cdc.column_filter import ColumnFilter, check_excludable
from cdc.connection import ConnectionSettings
from cdc.errors import ConfigurationError
from cdc.tables import TableFilter
from rowcast.private_server import PrivateServer

SECRET = "hash-0f3c9b2e-secret"
EXCLUDED = ColumnFilter.parse("robots.accounts.password_hash")


@pytest.fixture
def accounts(root: pymysql.Connection) -> Iterator[pymysql.Connection]:
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.accounts")
        cursor.execute("CREATE TABLE robots.accounts (id INT PRIMARY KEY, name VARCHAR(40), "
                       "password_hash VARCHAR(80))")
        cursor.execute(f"INSERT INTO robots.accounts VALUES (1, 'ada', '{SECRET}-1')")
    yield root
    with root.cursor() as cursor:
        cursor.execute("DROP TABLE robots.accounts")


@pytest.fixture
def accounts_app(
    reader_settings: ConnectionSettings, accounts: pymysql.Connection
) -> Iterator[RunningApp]:
    running = start_reader_app(
        reader_settings, TableFilter.parse("robots.accounts"), excluded_columns=EXCLUDED
    )
    yield running
    running.stop()


def read_raw_stream(url: str, marker: str, limit: int = 400) -> str:
    """Return the raw SSE text up to and including the line that contains marker."""
    lines = []
    with httpx.stream("GET", url, timeout=httpx.Timeout(15.0)) as response:
        for line in response.iter_lines():
            lines.append(line)
            if marker in line or len(lines) > limit:
                break
    return "\n".join(lines)


def test_events_leave_out_excluded_column(accounts_app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{accounts_app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute(f"INSERT INTO robots.accounts VALUES (2, 'grace', '{SECRET}-2')")
        cursor.execute(f"UPDATE robots.accounts SET password_hash = '{SECRET}-3' WHERE id = 2")
        cursor.execute("UPDATE robots.accounts SET name = 'grace h' WHERE id = 2")
        cursor.execute("DELETE FROM robots.accounts WHERE id = 2")
    insert, update, rename, delete = client.changes(4)
    client.close()
    assert insert["after"] == {"id": 2, "name": "grace"}
    assert update["before"] == {"id": 2, "name": "grace"}
    assert update["after"] == {"id": 2, "name": "grace"}
    assert rename["after"] == {"id": 2, "name": "grace h"}
    assert delete["before"] == {"id": 2, "name": "grace h"}
    for change in (insert, update, rename, delete):
        assert change["key"] == {"id": 2}


def test_raw_stream_never_carries_secret(accounts_app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{accounts_app.base_url}/events")
    start_id = client.next("status").id
    client.close()
    with root.cursor() as cursor:
        cursor.execute(f"INSERT INTO robots.accounts VALUES (3, 'linus', '{SECRET}-4')")
        cursor.execute("UPDATE robots.accounts SET name = 'last' WHERE id = 3")
    text = read_raw_stream(f"{accounts_app.base_url}/events?last_event_id={start_id}",
                           '"name":"last"')
    assert '"name":"linus"' in text
    assert '"name":"last"' in text
    assert SECRET not in text
    assert "password_hash" not in text


def test_snapshot_leaves_out_excluded_column(accounts_app: RunningApp) -> None:
    response = httpx.get(f"{accounts_app.base_url}/api/tables/robots.accounts", timeout=10)
    body = response.json()
    assert response.status_code == 200
    assert body["columns"] == ["id", "name"]
    assert body["rows"] == [{"id": 1, "name": "ada"}]
    assert SECRET not in response.text


def test_key_column_cannot_be_excluded(accounts: pymysql.Connection) -> None:
    with pytest.raises(ConfigurationError, match=r"Cannot exclude robots\.accounts\.id: it is "
                                                 r"part of the primary key of robots\.accounts"):
        check_excludable(accounts, ColumnFilter.parse("robots.accounts.id"))


def test_misspelt_column_is_rejected(accounts: pymysql.Connection) -> None:
    with pytest.raises(ConfigurationError, match=r"robots\.accounts has no column password"):
        check_excludable(accounts, ColumnFilter.parse("robots.accounts.password"))


def test_column_names_match_case_insensitively(accounts: pymysql.Connection) -> None:
    check_excludable(accounts, ColumnFilter.parse("robots.accounts.PASSWORD_HASH"))
    assert EXCLUDED.excluded_in("robots", "accounts") == {"password_hash"}


def test_invalid_column_name_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match=r"Invalid column name 'robots\.accounts': "
                                                 r"expected db\.table\.column"):
        ColumnFilter.parse("robots.accounts")


def test_serve_rejects_excluded_key_column(mysql_server: PrivateServer) -> None:
    url = f"mysql://rowcast_reader:{READER_PASSWORD}@127.0.0.1:{mysql_server.port}/robots"
    result = subprocess.run(
        [sys.executable, "-m", "rowcast.cli", "serve", "--mysql-url", url, "--http-port", "0",
         "--exclude-columns", "robots.task.Task_ID"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "Cannot exclude robots.task.Task_ID: it is part of the primary key" in result.stderr
    assert "Traceback" not in result.stderr
