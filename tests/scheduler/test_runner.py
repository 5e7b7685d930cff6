"""Scheduler runner against the private server: ticks, conditional updates, run and stop."""

from __future__ import annotations

import logging
import threading

import pymysql
import pytest

from cdc.connection import ConnectionSettings
from scheduler import Scheduler, SchedulerSettings, TickReport, plan_steps
from scheduler.runner import RETRYABLE_ERRORS, retry_delay_s
from scheduler.store import TaskRows
from scheduler_support import FakeClock, MakeScheduler, TaskTable

# Maximum wait for another thread. Reaching it means the test failed.
WAIT_TIMEOUT_S = 10.0


def test_tick_moves_seed_rows(
    seeded_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    # The seed sets task 1 to start 10 s after the seed ran.
    clock.now_s = table.scheduled_s(1)
    scheduler = make_scheduler()

    report = scheduler.tick()

    assert table.statuses() == {
        1: "ACTIVE",
        2: "REJECTED",
        3: "PREEMPTED",
        4: "COMPLETED",
        5: "COMPLETED",
        6: "SCHEDULED",
        7: "PREEMPTED",
        8: "REJECTED",
        9: "SCHEDULED",
        10: "COMPLETED",
    }
    assert report == TickReport(applied=3)


def test_seed_tasks_start_later(
    seeded_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    clock.now_s = table.scheduled_s(9)
    scheduler = make_scheduler()

    scheduler.tick()

    assert table.status(6) == "ACTIVE"
    assert table.status(9) == "ACTIVE"


def test_tick_commits_preempted_pair(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    running = table.insert("ACTIVE", "09:59:55")
    due = table.insert("SCHEDULED", "10:00:00")

    make_scheduler().tick()

    assert table.status(running) == "PREEMPTED"
    assert table.status(due) == "ACTIVE"


def test_manual_edit_survives_update(
    empty_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    due = table.insert("SCHEDULED", "10:00:00")
    scheduler = make_scheduler()
    (step,) = plan_steps(scheduler.read_tasks().tasks, clock.now_s, scheduler.settings.rules)

    table.set_status(due, "REJECTED")
    applied = scheduler.apply_step(step)

    assert applied is False
    assert table.status(due) == "REJECTED"


def test_preempted_pair_rolls_back_together(
    empty_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = table.insert("ACTIVE", "09:59:55")
    due = table.insert("SCHEDULED", "10:00:00")
    scheduler = make_scheduler()
    (step,) = plan_steps(scheduler.read_tasks().tasks, clock.now_s, scheduler.settings.rules)

    # The step preempts `running` first, then fails on `due`: both must roll back.
    table.set_status(due, "COMPLETED")
    with caplog.at_level(logging.INFO, logger="scheduler.runner"):
        scheduler.apply_step(step)

    assert table.status(running) == "ACTIVE"
    assert table.status(due) == "COMPLETED"
    assert f"task_id={due} no longer has status SCHEDULED" in caplog.text


def test_next_tick_rereads_edited_rows(
    empty_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    running = table.insert("ACTIVE", "09:59:55")
    due = table.insert("SCHEDULED", "10:00:00")
    scheduler = make_scheduler()
    (step,) = plan_steps(scheduler.read_tasks().tasks, clock.now_s, scheduler.settings.rules)
    table.set_status(running, "COMPLETED")
    scheduler.apply_step(step)

    report = scheduler.tick()

    assert report == TickReport(applied=1)
    assert table.status(running) == "COMPLETED"
    assert table.status(due) == "ACTIVE"


def test_tick_reports_rolled_back_step(
    empty_tasks: pymysql.Connection,
    scheduler_settings: ConnectionSettings,
    table: TaskTable,
    clock: FakeClock,
) -> None:
    due = table.insert("SCHEDULED", "10:00:00")

    class EditAfterRead(Scheduler):
        """A scheduler whose rows change by hand between its read and its write."""

        def read_tasks(self) -> TaskRows:
            rows = super().read_tasks()
            table.set_status(due, "REJECTED")
            return rows

    scheduler = EditAfterRead(scheduler_settings.connect, None, clock)
    try:
        report = scheduler.tick()
    finally:
        scheduler.close()

    assert report == TickReport(skipped=1)
    assert table.status(due) == "REJECTED"


def test_tick_sees_rows_added_later(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    scheduler = make_scheduler()
    scheduler.tick()
    due = table.insert("SCHEDULED", "10:00:00")

    scheduler.tick()

    assert table.status(due) == "ACTIVE"


@pytest.mark.parametrize("spelling", ["active", "ACTIVE ", "Active  "])
def test_status_spellings_follow_collation(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler, spelling: str
) -> None:
    # utf8mb4_unicode_ci ignores case and trailing spaces, so the CHECK constraint
    # accepts these spellings and the conditional UPDATE matches them.
    running = table.insert(spelling, "09:59:00")

    make_scheduler().tick()

    assert table.status(running) == "COMPLETED"


def test_unknown_status_warned_once(
    empty_tasks: pymysql.Connection,
    table: TaskTable,
    make_scheduler: MakeScheduler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The collation ignores accents too, so the CHECK constraint accepts 'ACTÍVE'.
    odd = table.insert("ACTÍVE", "09:59:00")
    scheduler = make_scheduler()

    with caplog.at_level(logging.WARNING, logger="scheduler.runner"):
        scheduler.tick()
        scheduler.tick()

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"task_id={odd} has an unknown Status" in warnings[0].getMessage()
    assert table.status(odd) == "ACTÍVE"


def test_default_clock_reads_server_time(
    root: pymysql.Connection, scheduler_settings: ConnectionSettings
) -> None:
    scheduler = Scheduler(scheduler_settings.connect)
    with root.cursor() as cursor:
        cursor.execute("SELECT TIME_TO_SEC(CURTIME())")
        (server_s,) = cursor.fetchone()

    try:
        clock_s = scheduler.read_clock()
    finally:
        scheduler.close()

    # Both reads happen within a second or so, also across midnight.
    assert min((clock_s - float(server_s)) % 86_400, (float(server_s) - clock_s) % 86_400) < 5


def test_tick_reconnects_after_kill(
    empty_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    scheduler = make_scheduler()
    scheduler.tick()
    with empty_tasks.cursor() as cursor:
        cursor.execute("KILL %s", (scheduler.connection.thread_id(),))
    due = table.insert("SCHEDULED", "10:00:00")

    with pytest.raises(RETRYABLE_ERRORS):
        scheduler.tick()
    scheduler.tick()

    assert table.status(due) == "ACTIVE"


def test_run_stops_promptly_when_set(
    empty_tasks: pymysql.Connection, clock: FakeClock, make_scheduler: MakeScheduler
) -> None:
    scheduler = make_scheduler(SchedulerSettings(tick_s=600))
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    thread.start()

    assert clock.read.wait(WAIT_TIMEOUT_S)
    stop.set()
    thread.join(WAIT_TIMEOUT_S)

    assert not thread.is_alive()


def test_run_reconnects_after_outage(
    empty_tasks: pymysql.Connection,
    scheduler_settings: ConnectionSettings,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    def connect_after_two_failures() -> pymysql.connections.Connection:
        attempts.append(1)
        if len(attempts) <= 2:
            raise ConnectionRefusedError("connection refused by test")
        return scheduler_settings.connect()

    scheduler = make_scheduler(SchedulerSettings(tick_s=0.01), connect=connect_after_two_failures)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    with caplog.at_level(logging.INFO, logger="scheduler.runner"):
        thread.start()
        ticked = clock.read.wait(WAIT_TIMEOUT_S)
        stop.set()
        thread.join(WAIT_TIMEOUT_S)

    assert ticked
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "connection refused by test" in warnings[0].getMessage()
    assert "reachable again after 2 failed ticks" in caplog.text


def test_run_raises_unexpected_errors(
    empty_tasks: pymysql.Connection, scheduler_settings: ConnectionSettings
) -> None:
    def broken_clock(connection: pymysql.connections.Connection) -> float:
        raise ZeroDivisionError("broken clock")

    scheduler = Scheduler(scheduler_settings.connect, SchedulerSettings(tick_s=0.01), broken_clock)

    with pytest.raises(ZeroDivisionError, match="broken clock"):
        scheduler.run(threading.Event())


@pytest.mark.parametrize(
    ("tick_s", "failed_attempts", "expected"),
    [
        (1.0, 1, 1.0),
        (1.0, 2, 2.0),
        (1.0, 4, 8.0),
        (1.0, 6, 30.0),
        (1.0, 10_000, 30.0),
        (60.0, 3, 60.0),
    ],
)
def test_retry_delay_doubles_to_cap(tick_s: float, failed_attempts: int, expected: float) -> None:
    assert retry_delay_s(tick_s, failed_attempts) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tick_s": 0}, "Invalid tick_s=0"),
        ({"issue_every_s": -1.0}, "Invalid issue_every_s=-1.0"),
        ({"cleanup_after_s": 43_200}, "Invalid cleanup_after_s=43200"),
    ],
)
def test_settings_reject_invalid_values(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SchedulerSettings(**options)  # type: ignore[arg-type]


def test_missing_privilege_is_logged_as_error(
    empty_tasks: pymysql.Connection, make_scheduler: MakeScheduler,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = make_scheduler(SchedulerSettings(tick_s=0.01))

    def denied() -> TickReport:
        raise pymysql.err.OperationalError(
            1142, "UPDATE command denied to user 'rowcast_reader'@'localhost' for table 'task'")

    monkeypatch.setattr(scheduler, "tick", denied)
    with caplog.at_level(logging.INFO, logger="scheduler.runner"):
        delay_s = scheduler._tick_or_back_off()
    [record] = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR
    assert "UPDATE command denied" in record.getMessage()
    assert "sql/grants.sql" in record.getMessage()
    assert delay_s == retry_delay_s(0.01, 1)
