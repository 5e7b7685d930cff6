"""The server check and the reader refuse servers without the binlog settings CDC needs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cdc.checks import check_privileges, check_settings
from cdc.connection import ConnectionSettings
from cdc.errors import ServerMisconfigured
from cdc.reader import ReaderSettings
from cdc.stream import ChangeStream, StreamSettings
from cdc.tables import TableFilter
from servers import READER_PASSWORD, start_server
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE
from rowcast.private_server import PrivateServer

TASKS = TableFilter.parse("robots.task")


@pytest.fixture(scope="module")
def binlog_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    server = start_server(tmp_path_factory.mktemp("binlog-off"), "--skip-log-bin")
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def minimal_metadata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    server = start_server(tmp_path_factory.mktemp("minimal"), "--binlog-row-metadata=MINIMAL")
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    yield server
    server.stop()


def reader_url(server: PrivateServer) -> str:
    return f"mysql://rowcast_reader:{READER_PASSWORD}@127.0.0.1:{server.port}/robots"


def run_check_command(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rowcast.cli", "check", "--mysql-url", url],
        capture_output=True, text=True, timeout=60, check=False,
    )


def start_stream(server: PrivateServer) -> None:
    connection = ConnectionSettings.from_url(reader_url(server))
    stream = ChangeStream(StreamSettings(ReaderSettings(connection, TASKS, server_id=6001)))
    asyncio.run(stream.start())


def test_check_passes_on_configured_server(mysql_server: PrivateServer) -> None:
    result = run_check_command(reader_url(mysql_server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert READER_PASSWORD not in result.stdout + result.stderr


def test_check_names_binlog_off_and_fix(binlog_off: PrivateServer) -> None:
    result = run_check_command(reader_url(binlog_off))
    assert result.returncode == 1
    assert "FAIL  log_bin = OFF (required: ON)" in result.stdout
    assert "add `log_bin = binlog` under [mysqld]" in result.stdout
    assert READER_PASSWORD not in result.stdout + result.stderr


def test_check_names_minimal_metadata_and_fix(minimal_metadata: PrivateServer) -> None:
    result = run_check_command(reader_url(minimal_metadata))
    assert result.returncode == 1
    assert "FAIL  binlog_row_metadata = MINIMAL (required: FULL)" in result.stdout
    assert "SET GLOBAL binlog_row_metadata = 'FULL'" in result.stdout
    assert "ok    log_bin = ON" in result.stdout


def test_reader_refuses_binlog_off(binlog_off: PrivateServer) -> None:
    with pytest.raises(ServerMisconfigured, match=r"log_bin is OFF, required ON\. Fix: add `log_bin = binlog`"):
        start_stream(binlog_off)


def test_reader_refuses_minimal_metadata(minimal_metadata: PrivateServer) -> None:
    with pytest.raises(ServerMisconfigured, match=r"binlog_row_metadata is MINIMAL, required FULL"):
        start_stream(minimal_metadata)


def test_check_lists_missing_privileges(mysql_server: PrivateServer, root) -> None:  # type: ignore[no-untyped-def]
    with root.cursor() as cursor:
        cursor.execute("CREATE USER IF NOT EXISTS 'viewer'@'%' IDENTIFIED BY 'viewer-pw'")
        cursor.execute("GRANT SELECT ON robots.* TO 'viewer'@'%'")
    url = f"mysql://viewer:viewer-pw@127.0.0.1:{mysql_server.port}/robots"
    result = run_check_command(url)
    assert result.returncode == 1
    assert "GRANT REPLICATION SLAVE ON *.* TO 'viewer'@'%';" in result.stdout
    assert "GRANT REPLICATION CLIENT ON *.* TO 'viewer'@'%';" in result.stdout
    assert "ok    privilege SELECT on robots.task = granted" in result.stdout


def test_check_reports_wrong_password(mysql_server: PrivateServer) -> None:
    url = f"mysql://rowcast_reader:not-the-password@127.0.0.1:{mysql_server.port}/robots"
    result = run_check_command(url)
    assert result.returncode == 1
    assert result.stderr.startswith("rowcast: error: Connecting to mysql://rowcast_reader:***@")
    assert "not-the-password" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variables", "failing"),
    [
        ({"binlog_format": "STATEMENT"}, "binlog_format"),
        ({"binlog_format": "MIXED"}, "binlog_format"),
        ({"binlog_row_image": "MINIMAL"}, "binlog_row_image"),
        ({"binlog_row_image": "NOBLOB"}, "binlog_row_image"),
        ({"binlog_row_metadata": None}, "binlog_row_metadata"),
        ({"server_id": "0"}, "server_id"),
        ({"server_id": "4217"}, "server_id"),
        ({"log_bin_compress": "ON"}, "log_bin_compress"),
        ({"binlog_transaction_compression": "ON"}, "binlog_transaction_compression"),
    ],
)
def test_settings_table(variables: dict[str, str | None], failing: str) -> None:
    good: dict[str, str | None] = {
        "log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL",
        "binlog_row_metadata": "FULL", "server_id": "1",
    }
    results = check_settings(good | variables, reader_server_id=4217)
    failed = [result.name for result in results if not result.ok]
    assert failed == [failing]


@pytest.mark.parametrize(
    ("grants", "missing"),
    [
        (["GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `r`@`%`",
          "GRANT SELECT ON `robots`.* TO `r`@`%`"], []),
        (["GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO `r`@`%`",
          "GRANT SELECT ON `robots`.`task` TO `r`@`%`"], []),
        (["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"], []),
        (["GRANT REPLICATION SLAVE ON *.* TO `r`@`%`"],
         ["privilege REPLICATION CLIENT", "privilege SELECT on robots.task"]),
        (["GRANT USAGE ON *.* TO `r`@`%`", "GRANT ALL PRIVILEGES ON `robots`.* TO `r`@`%`"],
         ["privilege REPLICATION SLAVE", "privilege REPLICATION CLIENT"]),
    ],
)
def test_privileges_table(grants: list[str], missing: list[str]) -> None:
    results = check_privileges(grants, "'r'@'%'", TASKS)
    assert [result.name for result in results if not result.ok] == missing


def test_check_output_has_no_traceback_for_bad_url() -> None:
    result = run_check_command("postgres://x@127.0.0.1/robots")
    assert result.returncode == 1
    assert "Invalid database URL" in result.stderr
    assert "Traceback" not in result.stderr


