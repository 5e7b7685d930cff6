"""`rowcast serve --workers 2` as a user runs it: shared port, equal ids, resume anywhere, clean stop."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from cdc.connection import ConnectionSettings
from cli_process import START_TIMEOUT_S, CliProcess
from clients import SseClient
from rowcast.private_server import free_port

STOP_TIMEOUT_S = 40.0
# Clients a test opens at most while waiting for each worker to serve some.
MAX_CLIENTS = 40
SHUTDOWN_REASON = "the server is shutting down; reconnect with the last event id to resume"
_first_server_ids = iter(range(7601, 8000, 10))


class WorkersProcess(CliProcess):
    """A `rowcast serve --workers N` child process whose output lines are collected in a thread."""

    def __init__(self, reader_settings: ConnectionSettings, workers: int, *options: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            "serve", "--mysql-url", reader_settings.url(), "--http-port", str(self.port),
            "--workers", str(workers), "--server-id", str(next(_first_server_ids)), *options,
        )

    def wait_ready(self) -> list[int]:
        """Wait until every worker serves; return the worker pids."""
        match = self.wait_for_line(r"workers ready \(pids ([\d, ]+)\)")
        return [int(pid) for pid in match[1].split(", ")]

    def stop(self) -> int:
        """Stop the parent with SIGTERM as a service manager would; return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def serve_workers(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> Iterator[WorkersProcess]:
    process = WorkersProcess(reader_settings, 2)
    yield process
    if process.process.poll() is None:
        # A test that failed midway: SIGKILL also checks that the workers stop with the parent.
        process.process.kill()
        process.process.wait()


def established_streams(worker_pid: int, port: int) -> int:
    """Count the TCP connections to `port` that the worker has open (Linux /proc)."""
    inodes = set()
    fd_dir = Path(f"/proc/{worker_pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                # State 01 is ESTABLISHED; field 9 is the socket's inode.
                if local_port == port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


def open_on_every_worker(
    process: WorkersProcess, pids: list[int], per_worker: int, headers: dict[str, str] | None = None
) -> tuple[list[SseClient], dict[int, int]]:
    """Open SSE clients until each worker serves at least per_worker of them.

    The kernel hands each connection to whichever worker accepts it first, so
    the split is not fixed; MAX_CLIENTS bounds the attempts.
    """
    clients = []
    served = {pid: 0 for pid in pids}
    while min(served.values()) < per_worker and len(clients) < MAX_CLIENTS:
        before = {pid: established_streams(pid, process.port) for pid in pids}
        client = SseClient(process.base_url + "/events", headers)
        client.next("status")
        clients.append(client)
        for pid in pids:
            served[pid] += established_streams(pid, process.port) - before[pid]
    return clients, served


def update_tasks(connection: pymysql.Connection, task_ids: list[int], name: str) -> None:
    """Commit one single-row update per task, each its own transaction.

    The name must be new to each task, because an UPDATE that changes nothing
    writes no row event.
    """
    with connection.cursor() as cursor:
        for task_id in task_ids:
            cursor.execute("UPDATE robots.task SET Task_Name = %s WHERE Task_ID = %s",
                           (name, task_id))


def changes_until(client: SseClient, last_task_id: int) -> list[dict[str, Any]]:
    """Read change events up to and including the first one of task last_task_id."""
    received = []
    while True:
        change = client.next("change")
        received.append({"id": change.id, "task": change.data["key"]["Task_ID"],
                         "name": change.data["after"]["Task_Name"]})
        if received[-1]["task"] == last_task_id:
            return received


def test_workers_deliver_every_change_once(
    serve_workers: WorkersProcess, seeded_tasks: pymysql.Connection
) -> None:
    pids = serve_workers.wait_ready()
    clients, served = open_on_every_worker(serve_workers, pids, per_worker=2)
    try:
        update_tasks(seeded_tasks, [1, 2, 3, 4, 5], "fan-out")
        # A last change to another task marks the end: anything repeated or
        # lost before it shows in the list.
        update_tasks(seeded_tasks, [6], "fan-out")
        received = [changes_until(client, 6) for client in clients]
    finally:
        for client in clients:
            client.close()
    assert len(pids) == 2
    assert min(served.values()) >= 2, served
    expected_tasks = [1, 2, 3, 4, 5, 6]
    for changes in received:
        assert [change["task"] for change in changes] == expected_tasks
        assert {change["name"] for change in changes} == {"fan-out"}
    ids = [[change["id"] for change in changes] for changes in received]
    assert len(set(ids[0])) == len(expected_tasks)
    for other in ids[1:]:
        assert other == ids[0]


def test_resume_on_any_worker(
    serve_workers: WorkersProcess, seeded_tasks: pymysql.Connection
) -> None:
    pids = serve_workers.wait_ready()
    first = SseClient(serve_workers.base_url + "/events")
    first.next("status")
    update_tasks(seeded_tasks, [1, 2, 3, 4, 5], "before the resume")
    seen = changes_until(first, 5)
    first.close()
    resume_from = seen[1]["id"]

    # Each resuming client lands on whichever worker accepts it.
    resumed, served = open_on_every_worker(
        serve_workers, pids, per_worker=1, headers={"Last-Event-ID": resume_from})
    try:
        update_tasks(seeded_tasks, [6], "after the resume")
        received = [changes_until(client, 6) for client in resumed]
    finally:
        for client in resumed:
            client.close()
    assert min(served.values()) >= 1, served
    rest = [change["id"] for change in seen[2:]]
    for changes in received:
        assert [change["task"] for change in changes] == [3, 4, 5, 6]
        assert [change["id"] for change in changes[:3]] == rest
    assert len({changes[-1]["id"] for changes in received}) == 1


def test_sigterm_stops_every_worker(
    serve_workers: WorkersProcess, reader_settings: ConnectionSettings
) -> None:
    pids = serve_workers.wait_ready()
    clients, served = open_on_every_worker(serve_workers, pids, per_worker=1)
    status = serve_workers.stop()
    reasons = []
    for client in clients:
        reasons.append(client.next("closed").data["reason"])
        client.close()
    output = serve_workers.output(STOP_TIMEOUT_S)
    assert min(served.values()) >= 1, served
    assert status == 0, output
    assert reasons == [SHUTDOWN_REASON] * len(clients)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} still runs:\n{output}"
    assert "all workers stopped" in output
    assert "Traceback" not in output
    assert reader_settings.password not in output


def test_dead_worker_is_reported_and_replaced(serve_workers: WorkersProcess) -> None:
    pids = serve_workers.wait_ready()
    os.kill(pids[0], signal.SIGKILL)
    died = serve_workers.wait_for_line(
        rf"worker exited unexpectedly worker=(\d) pid={pids[0]} exit=signal SIGKILL")
    restarted = serve_workers.wait_for_line(
        rf"worker started worker={died[1]} pid=(?!{pids[0]}\b)(\d+)")
    new_pid = int(restarted[1])
    status = serve_workers.stop()
    output = serve_workers.output(STOP_TIMEOUT_S)
    assert new_pid not in pids
    assert status == 0, output
    for pid in (new_pid, pids[1]):
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} still runs:\n{output}"


def test_killed_parent_takes_workers_along(serve_workers: WorkersProcess) -> None:
    pids = serve_workers.wait_ready()
    serve_workers.process.kill()
    serve_workers.process.wait()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived its parent"


def run_serve(reader_settings: ConnectionSettings, workers: int, *options: str) -> tuple[int, str]:
    process = WorkersProcess(reader_settings, workers, *options)
    try:
        status = process.process.wait(timeout=START_TIMEOUT_S)
    finally:
        if process.process.poll() is None:
            process.process.kill()
    return status, process.output(STOP_TIMEOUT_S)


@pytest.mark.parametrize("case", ["busy port", "source server id", "unknown column"])
def test_startup_error_prints_once(reader_settings: ConnectionSettings, case: str) -> None:
    busy = __import__("socket").socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    options = {
        "busy port": ["--http-port", str(busy.getsockname()[1])],
        # The private server's own server_id is 1.
        "source server id": ["--server-id", "1"],
        "unknown column": ["--exclude-columns", "robots.task.no_such_column"],
    }[case]
    try:
        one_status, one_output = run_serve(reader_settings, 1, *options)
        two_status, two_output = run_serve(reader_settings, 2, *options)
    finally:
        busy.close()
    assert one_status == 1
    assert two_status == 1
    assert one_output.count("rowcast: error:") == 1, one_output
    assert two_output == one_output
    assert "worker" not in two_output
