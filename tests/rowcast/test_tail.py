"""`rowcast tail` as a user runs it: a child process that reads a real app over the task table."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any

import pymysql
import pytest
import uvicorn

from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings
from clients import SseClient
from rowcast import cli
from rowcast.private_server import free_port
from rowcast.tail_format import Style, escape, format_change, json_line, show_value
from rowcast.tail_sse import SseEvent, parse_events
from servers import RunningApp, purge_older_binlogs, start_app

WAIT_S = 30.0
TIME = r"\d\d:\d\d:\d\d"


class TailProcess:
    """A `rowcast tail` child process whose stdout and stderr lines are collected in threads."""

    def __init__(self, *arguments: str, terminal: bool = False, no_color: bool = False) -> None:
        environment = {name: value for name, value in os.environ.items()
                       if name != "NO_COLOR" and not name.startswith("ROWCAST_")}
        environment["PYTHONIOENCODING"] = "utf-8"
        if no_color:
            environment["NO_COLOR"] = "1"
        if terminal:
            environment["TERM"] = "xterm-256color"
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._open_streams = 2
        command = [sys.executable, "-m", "rowcast.cli", "tail", *arguments]
        if terminal:
            parent_end, child_end = pty.openpty()
            self.process = subprocess.Popen(command, stdout=child_end, stderr=subprocess.PIPE,
                                            env=environment)
            os.close(child_end)
            stdout: IO[bytes] = os.fdopen(parent_end, "rb")
        else:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, env=environment)
            assert self.process.stdout is not None
            stdout = self.process.stdout
        assert self.process.stderr is not None
        for stream, lines in ((stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True).start()

    def _collect(self, stream: IO[bytes], lines: list[str]) -> None:
        try:
            for raw in stream:
                with self._changed:
                    lines.append(raw.decode("utf-8").rstrip("\r\n"))
                    self._changed.notify_all()
        except OSError:
            pass  # A pseudo-terminal reports EIO once the child has closed it: the end of output.
        finally:
            with self._changed:
                self._open_streams -= 1
                self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], description: str) -> None:
        """Wait until condition holds; fail with everything printed so far if it does not."""
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                finished = self._open_streams == 0 and self.process.poll() is not None
                if remaining <= 0 or finished:
                    raise AssertionError(self.report(f"{description} did not happen."))
                self._changed.wait(min(remaining, 0.5))

    def report(self, headline: str) -> str:
        return "\n".join([headline, "stdout:", *self.out, "stderr:", *self.err])

    def lines(self, count: int) -> list[str]:
        """Return the first count stdout lines, waiting for them."""
        self.wait_until(lambda: len(self.out) >= count, f"{count} lines on stdout")
        return self.out[:count]

    def changes(self, count: int) -> list[dict[str, Any]]:
        """Return the first count stdout lines of a --json tail, parsed."""
        return [json.loads(line) for line in self.lines(count)]

    def message(self, pattern: str) -> str:
        """Return the first stderr line matching pattern, waiting for it."""
        compiled = re.compile(pattern)

        def found() -> bool:
            return any(compiled.search(line) for line in self.err)

        self.wait_until(found, f"A stderr line matching {pattern!r}")
        return next(line for line in self.err if compiled.search(line))

    def wait_streaming(self) -> None:
        self.message(r"^rowcast: streaming ")

    def interrupt(self) -> int:
        """Send SIGINT, as Ctrl-C does, and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=WAIT_S)


@pytest.fixture
def tails() -> Iterator[Callable[..., TailProcess]]:
    """Start tail processes; stop those still running at the end of the test."""
    started: list[TailProcess] = []

    def start(*arguments: str, terminal: bool = False, no_color: bool = False) -> TailProcess:
        tail = TailProcess(*arguments, terminal=terminal, no_color=no_color)
        started.append(tail)
        return tail

    yield start
    for tail in started:
        if tail.process.poll() is None:
            tail.process.kill()
        tail.process.wait(timeout=WAIT_S)


def execute(root: pymysql.Connection, *statements: str) -> None:
    with root.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


INSERT_42 = ("INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Issued_Time, Scheduled_Time, "
             "Status) VALUES (42, 2, 'Hand-typed task ✓', '08:00:00', '08:30:00', 'SCHEDULED')")
REJECT_3 = "UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3"
DELETE_5 = "DELETE FROM robots.task WHERE Task_ID = 5"


def local_time(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000).strftime("%H:%M:%S")


def test_human_lines_show_each_operation(
    app: RunningApp, root: pymysql.Connection, tails: Callable[..., TailProcess]
) -> None:
    human = tails(app.base_url)
    as_json = tails(app.base_url, "--json")
    human.wait_streaming()
    as_json.wait_streaming()
    execute(root, INSERT_42, REJECT_3, DELETE_5)
    insert, update, delete = human.lines(3)
    times = [local_time(change["ts_ms"]) for change in as_json.changes(3)]

    assert insert == (f"{times[0]} insert robots.task Task_ID=42  Robot_ID=2 "
                      'Task_Name="Hand-typed task ✓" Issued_Time=08:00:00 '
                      "Scheduled_Time=08:30:00 Status=SCHEDULED")
    assert update == f"{times[1]} update robots.task Task_ID=3  Status: ACTIVE → REJECTED"
    assert re.fullmatch(
        f'{times[2]} delete robots.task Task_ID=5  Robot_ID=4 Task_Name="Inspect conveyor" '
        f"Issued_Time={TIME} Scheduled_Time={TIME} Status=COMPLETED", delete)
    assert not any("\x1b" in line for line in human.out)
    assert human.interrupt() == 0


def test_update_shows_only_changed_columns(
    app: RunningApp, root: pymysql.Connection, tails: Callable[..., TailProcess]
) -> None:
    tail = tails(app.base_url)
    tail.wait_streaming()
    execute(root, "UPDATE robots.task SET Status = 'REJECTED', Task_Name = NULL, Robot_ID = 7 "
                  "WHERE Task_ID = 3")
    line = tail.lines(1)[0]
    assert line.endswith('  Robot_ID: 1 → 7, Task_Name: "Scan aisle 4" → NULL, '
                         "Status: ACTIVE → REJECTED")


def test_json_lines_match_stream(
    app: RunningApp, root: pymysql.Connection, tails: Callable[..., TailProcess]
) -> None:
    tail = tails(app.base_url, "--json")
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    tail.wait_streaming()
    execute(root, INSERT_42, REJECT_3, DELETE_5)
    insert, update, delete = tail.changes(3)
    streamed = client.changes(3)
    client.close()

    assert [insert, update, delete] == streamed
    assert insert["op"] == "insert"
    assert insert["before"] is None
    assert insert["after"]["Task_Name"] == "Hand-typed task ✓"
    assert update["key"] == {"Task_ID": 3}
    assert update["before"]["Status"] == "ACTIVE"
    assert update["after"]["Status"] == "REJECTED"
    assert delete["key"] == {"Task_ID": 5}
    assert delete["after"] is None
    assert tail.interrupt() == 0
    assert len(tail.out) == 3


def test_op_filter_prints_only_deletes(
    app: RunningApp, root: pymysql.Connection, tails: Callable[..., TailProcess]
) -> None:
    tail = tails(app.base_url, "--op", "delete", "--json")
    tail.wait_streaming()
    execute(root, INSERT_42, REJECT_3, DELETE_5, "DELETE FROM robots.task WHERE Task_ID = 6")
    first, second = tail.changes(2)
    assert (first["op"], first["key"]) == ("delete", {"Task_ID": 5})
    assert (second["op"], second["key"]) == ("delete", {"Task_ID": 6})


def test_table_filter_skips_other_tables(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection,
    tails: Callable[..., TailProcess],
) -> None:
    execute(seeded_tasks, "CREATE TABLE IF NOT EXISTS robots.tail_notes "
                          "(id INT PRIMARY KEY, note VARCHAR(100))",
            "DELETE FROM robots.tail_notes")
    app = start_app(reader_settings, tables="robots.task,robots.tail_notes")
    try:
        tail = tails(app.base_url, "--table", "robots.tail_notes", "--json")
        tail.wait_streaming()
        execute(seeded_tasks, REJECT_3, "INSERT INTO robots.tail_notes VALUES (1, 'first note')",
                DELETE_5, "INSERT INTO robots.tail_notes VALUES (2, 'second note')")
        changes = tail.changes(2)
    finally:
        app.stop()
    assert [change["table"] for change in changes] == ["tail_notes", "tail_notes"]
    assert [change["key"] for change in changes] == [{"id": 1}, {"id": 2}]


def test_since_replays_after_id(
    app: RunningApp, root: pymysql.Connection, tails: Callable[..., TailProcess]
) -> None:
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    execute(root, INSERT_42, REJECT_3, DELETE_5)
    ids = [change["id"] for change in client.changes(3)]
    client.close()

    tail = tails(app.base_url, "--since", ids[0], "--json")
    assert [change["id"] for change in tail.changes(2)] == ids[1:]
    assert ids[0] in tail.message(r"^rowcast: streaming .* after ")


def test_resume_after_app_restart(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection,
    tails: Callable[..., TailProcess],
) -> None:
    port = free_port()
    first_app = start_app(reader_settings, port=port)
    try:
        tail = tails(first_app.base_url, "--json")
        tail.wait_streaming()
        execute(seeded_tasks, INSERT_42)
        before_stop = tail.changes(1)[0]
    finally:
        first_app.stop()
    tail.message(r"the server closed the stream: .*\. Reconnecting in ")

    execute(seeded_tasks, REJECT_3, DELETE_5)
    second_app = start_app(reader_settings, port=port)
    try:
        tail.changes(3)
        execute(seeded_tasks, "UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 4")
        changes = tail.changes(4)
    finally:
        second_app.stop()

    assert [(change["op"], change["key"]["Task_ID"]) for change in changes] == [
        ("insert", 42), ("update", 3), ("delete", 5), ("update", 4)]
    assert len({change["id"] for change in changes}) == 4
    resumed = tail.message(r"^rowcast: resumed after ")
    assert resumed == f"rowcast: resumed after {before_stop['id']}"


def test_reset_warns_and_continues(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection,
    tails: Callable[..., TailProcess],
) -> None:
    app = start_app(reader_settings, hub=HubSettings(buffer_events=2))
    try:
        client = SseClient(f"{app.base_url}/events")
        client.next("status")
        execute(seeded_tasks, *(f"UPDATE robots.task SET Task_Name = 'old {number}' "
                                f"WHERE Task_ID = {number}" for number in range(1, 6)))
        old_id = client.changes(5)[0]["id"]
        client.close()
        purge_older_binlogs(seeded_tasks)

        tail = tails(app.base_url, "--since", old_id, "--json")
        warning = tail.message(r"^rowcast: warning: cannot resume after ")
        execute(seeded_tasks, REJECT_3)
        change = tail.changes(1)[0]
    finally:
        app.stop()
    assert old_id in warning
    assert "purged" in warning
    assert warning.endswith("Changes made since then may be missing; continuing from now.")
    assert (change["op"], change["key"]) == ("update", {"Task_ID": 3})


def test_unreachable_server_keeps_retrying(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection,
    tails: Callable[..., TailProcess],
) -> None:
    port = free_port()
    tail = tails(f"http://127.0.0.1:{port}")
    tail.message(r"cannot connect to .*\. Retrying in 1\.0 s \(attempt 2\)…$")
    assert any("Is `rowcast serve` or `rowcast demo` running there?" in line for line in tail.err)
    app = start_app(reader_settings, port=port)
    try:
        tail.wait_streaming()
        execute(seeded_tasks, REJECT_3)
        assert " update robots.task Task_ID=3 " in tail.lines(1)[0]
    finally:
        app.stop()


async def closing_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Respond to every request with a stream that the server ends at once, with no change."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body",
                "body": b'event: closed\ndata: {"reason": "ended at once"}\n\n'})


def test_streams_ended_at_once_back_off(tails: Callable[..., TailProcess]) -> None:
    port = free_port()
    config = uvicorn.Config(closing_stream, host="127.0.0.1", port=port, log_config=None,
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        tail = tails(f"http://127.0.0.1:{port}")
        tail.message(r"ended at once\. Reconnecting in 2\.0 s \(attempt 3\)…$")
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
    delays = [line for line in tail.err if "Reconnecting in" in line]
    assert "in 0.5 s (attempt 1)" in delays[0]
    assert "in 1.0 s (attempt 2)" in delays[1]


def test_bad_op_exits_with_status_2(app: RunningApp, tails: Callable[..., TailProcess]) -> None:
    tail = tails(app.base_url, "--op", "upsert")
    assert tail.process.wait(timeout=WAIT_S) == 2
    tail.wait_until(lambda: bool(tail.err), "An error message")
    assert tail.err == [
        "rowcast: error: invalid --op 'upsert': use insert, update or delete "
        "(repeat --op or separate them with commas)"
    ]
    assert tail.out == []


def test_malformed_since_names_the_option(tails: Callable[..., TailProcess]) -> None:
    # No server is needed: the id's form is checked before connecting.
    tail = tails(f"http://127.0.0.1:{free_port()}", "--since", "garbage")
    assert tail.process.wait(timeout=WAIT_S) == 2
    tail.wait_until(lambda: bool(tail.err), "An error message")
    assert len(tail.err) == 1
    assert tail.err[0].startswith("rowcast: error: invalid --since 'garbage': expected an event id")
    assert "leave --since out to start from now" in tail.err[0]
    assert tail.out == []


def test_control_characters_are_escaped(
    app: RunningApp, root: pymysql.Connection, tails: Callable[..., TailProcess]
) -> None:
    human = tails(app.base_url)
    as_json = tails(app.base_url, "--json")
    human.wait_streaming()
    as_json.wait_streaming()
    hostile = "red \x1b[31m text\nsecond line \x9b2J \u202eright-to-left"
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Task_Name = %s WHERE Task_ID = 3", (hostile,))
    execute(root, REJECT_3)

    first, second = human.lines(2)
    assert first.endswith('Task_Name: "Scan aisle 4" → '
                          r'"red \x1b[31m text\nsecond line \x9b2J \u202eright-to-left"')
    assert second.endswith("Status: ACTIVE → REJECTED")
    json_first, json_second = as_json.lines(2)
    assert json.loads(json_first)["after"]["Task_Name"] == hostile
    assert not re.search("[\x00-\x1f\x7f-\x9f\u202e]", json_first + json_second)


def test_terminal_gets_colours(
    app: RunningApp, root: pymysql.Connection, tails: Callable[..., TailProcess]
) -> None:
    coloured = tails(app.base_url, terminal=True)
    plain = tails(app.base_url, terminal=True, no_color=True)
    coloured.wait_streaming()
    plain.wait_streaming()
    execute(root, INSERT_42, REJECT_3, DELETE_5)
    insert, update, delete = coloured.lines(3)
    assert "\x1b[32minsert\x1b[0m" in insert
    assert "\x1b[33mupdate\x1b[0m" in update
    assert "\x1b[31mdelete\x1b[0m" in delete
    assert not any("\x1b" in line for line in plain.lines(3))


def test_ctrl_c_exits_quietly(app: RunningApp, tails: Callable[..., TailProcess]) -> None:
    tail = tails(app.base_url)
    tail.wait_streaming()
    assert tail.interrupt() == 0
    assert not any("Traceback" in line or "interrupted" in line for line in tail.err)


def test_options_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROWCAST_TAIL_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("ROWCAST_OP", "update, delete")
    parser = cli.build_parser()
    from_environment = parser.parse_args(["tail"])
    from_options = parser.parse_args(["tail", "--op", "insert", "--op", "update,delete"])
    assert from_environment.url == "http://127.0.0.1:9000"
    assert from_environment.op == ["update", "delete"]
    assert from_options.op == ["insert", "update", "delete"]


@pytest.mark.parametrize(("value", "shown"), [
    (None, "NULL"),
    (42, "42"),
    (-1.5, "-1.5"),
    ("ACTIVE", "ACTIVE"),
    ("21:20:21", "21:20:21"),
    ("NULL", '"NULL"'),
    ("", '""'),
    ("two words", '"two words"'),
    ('say "hi"\\', r'"say \"hi\"\\"'),
    ("tab\there", r'"tab\there"'),
    ("x" * 70, '"' + "x" * 59 + '…"'),
    ({"a": [1, 2]}, '"{\\"a\\":[1,2]}"'),
])
def test_values_shown_readably(value: Any, shown: str) -> None:
    assert show_value(value) == shown


def test_names_are_escaped_too() -> None:
    event = {"op": "insert", "db": "robots", "table": "odd\x07name", "ts_ms": None,
             "key": {"id\n": 1}, "before": None, "after": {"id\n": 1, "note": "hi"}}
    assert format_change(event, Style(colour=False)) == (
        r'--:--:-- insert robots."odd\x07name" "id\n"=1  note=hi')
    assert escape("\u0085\U000e0001") == r"\x85\U000e0001"


def test_json_line_escapes_non_printables() -> None:
    note = "a\x1bb\x7fc\x9bd\u202ee\U000e0001 ✓"
    line = json_line({"note": note})
    assert line == r'{"note":"a\u001bb\u007fc\u009bd\u202ee\udb40\udc01 ✓"}'
    assert json.loads(line) == {"note": note}


def test_sse_parser_joins_data_lines() -> None:
    lines = [": comment", "retry: 2000", "", "id: 7", "event: change", "data: {", "data:}", "",
             "event: status", "data: x", ""]
    assert list(parse_events(lines)) == [
        SseEvent("change", "{\n}", "7"), SseEvent("status", "x", None)]
