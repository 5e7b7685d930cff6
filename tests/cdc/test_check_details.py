"""`rowcast check` shows GTID settings for reference, and never fails on them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_checks import reader_url, run_check_command

from cdc.checks import check_settings
from rowcast.private_server import PrivateServer

FULL_SETTINGS: dict[str, str | None] = {
    "log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL", "server_id": "1",
}


@pytest.mark.parametrize(
    ("variables", "lines"),
    [
        ({"gtid_mode": "OFF"}, ["info  gtid_mode = OFF"]),
        ({"gtid_mode": "ON"}, ["info  gtid_mode = ON"]),
        ({"gtid_strict_mode": "OFF", "gtid_current_pos": ""},
         ["info  gtid_strict_mode = OFF", "info  gtid_current_pos = (empty)"]),
        ({"gtid_strict_mode": "ON", "gtid_current_pos": "0-1-42"},
         ["info  gtid_strict_mode = ON", "info  gtid_current_pos = 0-1-42"]),
        ({}, []),
    ],
)
def test_gtid_lines_are_informational(variables: dict[str, str | None], lines: list[str]) -> None:
    results = check_settings(FULL_SETTINGS | variables, reader_server_id=4217)
    assert [result.describe() for result in results if result.informational] == lines
    assert all(result.ok for result in results)


def test_check_shows_mariadb_gtid(mysql_server: PrivateServer) -> None:
    result = run_check_command(reader_url(mysql_server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "info  gtid_strict_mode = " in result.stdout
    assert "info  gtid_current_pos = " in result.stdout
    assert "all checks passed" in result.stdout
@pytest.mark.parametrize("image", ["MINIMAL", "NOBLOB"])
def test_check_warns_when_allowed(image: str) -> None:
    results = check_settings(FULL_SETTINGS | {"binlog_row_image": image}, 4217,
                             allow_partial_images=True)
    row_image = next(result for result in results if result.name == "binlog_row_image")
    assert row_image.ok
    assert row_image.describe().startswith(f"warn  binlog_row_image = {image}: accepted")


@pytest.mark.parametrize("image", ["MINIMAL", "NOBLOB"])
def test_check_fails_when_not_allowed(image: str) -> None:
    results = check_settings(FULL_SETTINGS | {"binlog_row_image": image}, 4217)
    assert [result.name for result in results if not result.ok] == ["binlog_row_image"]


@pytest.mark.parametrize("value", ["", None])
def test_row_value_options_pass_when_empty(value: str | None) -> None:
    results = check_settings(FULL_SETTINGS | {"binlog_row_value_options": value}, 4217)
    assert all(result.ok for result in results)
    assert not any(result.name == "binlog_row_value_options" for result in results)


def test_partial_json_fails_with_fix() -> None:
    results = check_settings(FULL_SETTINGS | {"binlog_row_value_options": "PARTIAL_JSON"}, 4217)
    [result] = [result for result in results if result.name == "binlog_row_value_options"]
    assert not result.ok
    assert "SET GLOBAL binlog_row_value_options = ''" in result.describe()


@pytest.mark.parametrize(("tables", "name"), [
    ("robots.nope", "table robots.nope"),
    ("nowhere.*", "table nowhere.*"),
])
def test_missing_table_fails_check(mysql_server: PrivateServer, tables: str, name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rowcast.cli", "check", "--mysql-url", reader_url(mysql_server),
         "--tables", f"robots.task,{tables}"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert f"FAIL  {name} = not found" in result.stdout
    assert "ok    table robots.task = exists" in result.stdout
