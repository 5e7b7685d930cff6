"""`rowcast demo` as a user runs it: private server, live stream, a hand edit, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymysql
import pytest

from cdc.connection import ConnectionSettings
from cli_process import START_TIMEOUT_S, CliProcess
from clients import SseClient
from rowcast import cli, demo
from rowcast.private_server import free_port



class DemoProcess(CliProcess):
    """A `rowcast demo` child process whose output lines are collected in a thread."""

    def __init__(self, data_dir: Path, http_port: int) -> None:
        super().__init__("demo", "--http-port", str(http_port), "--data-dir", str(data_dir))


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[tuple[DemoProcess, str]]:
    port = free_port()
    process = DemoProcess(tmp_path / "demo", port)
    yield process, f"http://127.0.0.1:{port}"
    if process.process.poll() is None:
        process.process.terminate()
        try:
            process.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.process.kill()
            process.process.wait()


def wait_until_serving(base_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(base_url + "/api/tasks", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{base_url} did not serve /api/tasks within {START_TIMEOUT_S} s")


def test_demo_streams_hand_edit_and_stops(running_demo: tuple[DemoProcess, str], tmp_path: Path) -> None:
    process, base_url = running_demo
    url_line = process.wait_for_line(r"Database URL:\s+(mysql://\S+)")
    process.wait_for_line(r"curl -N " + re.escape(base_url) + "/events")
    wait_until_serving(base_url)

    tasks = httpx.get(base_url + "/api/tasks", timeout=10).json()["tasks"]
    assert len(tasks) >= 10
    client = SseClient(base_url + "/events")
    editor = ConnectionSettings.from_url(url_line.group(1)).connect(autocommit=True)
    with editor.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED', Task_Name = 'edited by hand' "
                       "WHERE Task_ID = 3")
    editor.close()
    while True:
        change = client.next("change").data
        if change["after"] and change["after"]["Task_Name"] == "edited by hand":
            break
    assert change["after"]["Status"] == "REJECTED"
    assert change["key"] == {"Task_ID": 3}

    # The statement the welcome prints finds a row to change, and the stream shows it.
    statement = process.wait_for_line(r'Edit a row:.* -e "([^"]+)"').group(1)
    editor = ConnectionSettings.from_url(url_line.group(1)).connect(autocommit=True, database="robots")
    with editor.cursor() as cursor:
        changed = cursor.execute(statement)
    editor.close()
    while True:
        printed_edit = client.next("change").data
        if printed_edit["op"] == "update" and printed_edit["after"]["Status"] == "REJECTED":
            break
    client.close()
    assert changed == 1
    assert printed_edit["before"]["Status"] == "SCHEDULED"

    pid_file = tmp_path / "demo" / "mysqld.pid"
    server_pid = int(pid_file.read_text())
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(timeout=60) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)
    assert not any("Traceback" in line for line in process.lines)
    assert not any("reader-demo-pw" in line for line in process.lines)


def test_demo_without_server_binary_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(demo, "find_server_binary", lambda: None)
    status = cli.main(["demo", "--http-port", str(free_port()), "--data-dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert status == 1
    assert "no MySQL or MariaDB server binary" in error
    assert "apt-get install mariadb-server" in error
    assert "docker compose up" in error
    assert "--mysql-url" in error


def test_serve_refuses_busy_port(reader_settings: ConnectionSettings, capsys: pytest.CaptureFixture[str]) -> None:
    with __import__("socket").socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status = cli.main(["serve", "--mysql-url", reader_settings.url(), "--http-port", str(port)])
    error = capsys.readouterr().err
    assert status == 1
    assert f"cannot listen on 127.0.0.1:{port}" in error
    assert "--http-port" in error


def test_serve_needs_mysql_url(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROWCAST_MYSQL_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve"])
    assert exited.value.code == 2
    assert "serve needs --mysql-url" in capsys.readouterr().err


def test_options_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROWCAST_HTTP_PORT", "8123")
    monkeypatch.setenv("ROWCAST_TABLES", "robots.*")
    arguments = cli.build_parser().parse_args(["serve", "--mysql-url", "mysql://u@h/db"])
    assert arguments.http_port == 8123
    assert arguments.tables == "robots.*"


def test_scheduler_command_stops_on_sigterm(scheduler_settings: ConnectionSettings, seeded_tasks: pymysql.Connection) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rowcast.cli", "scheduler", "--mysql-url", scheduler_settings.url(),
         "--tick", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    with seeded_tasks.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT Status FROM robots.task WHERE Task_ID = 2")
            if cursor.fetchone()[0] == "REJECTED":
                break
            time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "scheduler stopped" in output
    assert "scheduler-demo-pw" not in output


def wait_until_gone(pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGHUP, signal.SIGKILL])
def test_demo_stop_takes_server_along(
    running_demo: tuple[DemoProcess, str], tmp_path: Path, stop_signal: signal.Signals
) -> None:
    process, base_url = running_demo
    process.wait_for_line(r"Live page:")
    wait_until_serving(base_url)
    server_pid = int((tmp_path / "demo" / "mysqld.pid").read_text())
    process.process.send_signal(stop_signal)
    process.process.wait(timeout=60)
    assert wait_until_gone(server_pid)
    assert not any("Traceback" in line for line in process.lines)


# Starts `rowcast demo --stop-with-parent` as its child, prints the child's
# pid and sleeps: the part `make demo` plays.
LAUNCHER = """
import subprocess, sys, time
with open(sys.argv[1], "w") as log:
    child = subprocess.Popen(
        [sys.executable, "-m", "rowcast.cli", "demo", "--stop-with-parent",
         "--http-port", sys.argv[2], "--data-dir", sys.argv[3]], stdout=log, stderr=log)
print(child.pid, flush=True)
time.sleep(600)
"""


def wait_until_exited(pid: int, timeout_s: float = 60.0) -> bool:
    """Wait until pid is gone or a zombie: another process's child cannot be waited for."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def test_demo_stops_when_parent_is_killed(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "demo.log"
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(log_path), str(port), str(tmp_path / "demo")],
        stdout=subprocess.PIPE, text=True)
    assert launcher.stdout is not None
    demo_pid = int(launcher.stdout.readline())
    try:
        wait_until_serving(f"http://127.0.0.1:{port}")
        server_pid = int((tmp_path / "demo" / "mysqld.pid").read_text())
        launcher.kill()
        launcher.wait()
        assert wait_until_exited(demo_pid)
        assert wait_until_gone(server_pid)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        if not wait_until_exited(demo_pid, 0):
            os.kill(demo_pid, signal.SIGKILL)
    assert "Traceback" not in log_path.read_text()


def test_demo_unwritable_data_dir_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status = cli.main(["demo", "--http-port", str(free_port()), "--data-dir", str(blocker / "demo")])
    error = capsys.readouterr().err
    assert status == 1
    assert f"Cannot write the data folder {blocker / 'demo'}" in error
    assert "--data-dir" in error


def test_demo_refuses_account_that_cannot_write(
    reader_settings: ConnectionSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["demo", "--mysql-url", reader_settings.url(),
                       "--http-port", str(free_port())])
    error = capsys.readouterr().err
    assert status == 1
    assert "The account 'rowcast_reader'" in error
    assert "lacks INSERT, UPDATE, DELETE on robots.task" in error
    assert "`rowcast serve`" in error
    assert "reader-demo-pw" not in error
