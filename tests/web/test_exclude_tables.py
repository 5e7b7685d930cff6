"""Excluded tables produce no change events, no snapshots and no stream filters."""

from __future__ import annotations

import queue
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pymysql
import pytest
from clients import SseClient
from reader_apps import start_reader_app
from servers import RunningApp

from cdc.connection import ConnectionSettings
from cdc.errors import ConfigurationError
from cdc.tables import TableFilter


@pytest.fixture
def audit_app(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> Iterator[RunningApp]:
    with seeded_tasks.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS robots.audit")
        cursor.execute("CREATE TABLE robots.audit (id INT PRIMARY KEY, note VARCHAR(40))")
    running = start_reader_app(reader_settings, TableFilter.parse("robots.*", "robots.audit"))
    yield running
    running.stop()
    with seeded_tasks.cursor() as cursor:
        cursor.execute("DROP TABLE robots.audit")


def test_excluded_table_sends_no_changes(audit_app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{audit_app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("INSERT INTO robots.audit VALUES (1, 'hidden')")
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
        cursor.execute("DELETE FROM robots.audit")
    change = client.changes(1)[0]
    # Look for a further change before closing: a closed client reports a read error.
    with pytest.raises(queue.Empty):
        client.next("change", timeout=1)
    client.close()
    assert change["table"] == "task"


def test_excluded_table_snapshot_is_404(audit_app: RunningApp) -> None:
    response = httpx.get(f"{audit_app.base_url}/api/tables/robots.audit", timeout=10)
    assert response.status_code == 404
    assert "robots.audit" in response.json()["message"]
    task = httpx.get(f"{audit_app.base_url}/api/tables/robots.task", timeout=10)
    assert task.status_code == 200


def test_excluded_table_filter_is_400(audit_app: RunningApp) -> None:
    response = httpx.get(f"{audit_app.base_url}/events?table=robots.audit", timeout=10)
    body = response.json()
    assert response.status_code == 400
    assert body["parameter"] == "table"
    assert "not watched" in body["message"]


@pytest.mark.parametrize(
    ("include", "exclude", "db", "table", "watched"),
    [
        ("robots.*", "robots.audit", "robots", "task", True),
        ("robots.*", "robots.audit", "robots", "audit", False),
        ("robots.*,shop.*", "shop.*", "shop", "orders", False),
        ("robots.task", "", "robots", "task", True),
        ("robots.task", "robots.*", "robots", "task", False),
    ],
)
def test_filter_honours_excludes(include: str, exclude: str, db: str, table: str, watched: bool) -> None:
    assert TableFilter.parse(include, exclude).matches(db, table) is watched


def test_filter_rejects_bad_exclude() -> None:
    with pytest.raises(ConfigurationError, match=r"Invalid table pattern 'robots': expected db.table"):
        TableFilter.parse("robots.*", "robots")


def test_check_command_rejects_bad_exclude() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rowcast.cli", "check", "--mysql-url",
         "mysql://u:p@127.0.0.1:1/robots", "--exclude-tables", "robots.a-b"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "Invalid table pattern 'robots.a-b'" in result.stderr
    assert "Traceback" not in result.stderr
