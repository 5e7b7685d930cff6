"""Run the task rules on a timer: one connection, one short transaction per step, reconnects.

A tick reads the clock and every task, plans the steps with `plan_steps` and
applies each step in its own transaction. In demo mode it then deletes old
finished tasks and issues new ones. `run` ticks until a stop event is set.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pymysql

from scheduler import store
from scheduler.demo import MAX_ROWS, make_task, should_issue, task_to_make_room, tasks_to_delete
from scheduler.rules import HALF_DAY_S, RuleSettings, Step, Task, plan_steps
from scheduler.store import TaskRows

logger = logging.getLogger(__name__)

ConnectionFactory = Callable[[], pymysql.connections.Connection]
Clock = Callable[[pymysql.connections.Connection], float]

# Maximum wait between reconnect attempts while the database is unreachable.
MAX_RETRY_DELAY_S = 30.0


def retry_delay_s(tick_s: float, failed_attempts: int) -> float:
    """Return the wait after a failed tick: `tick_s`, doubled for each further failure.

    The wait is capped at MAX_RETRY_DELAY_S, or at `tick_s` if that is longer.
    """
    doublings = min(failed_attempts - 1, 16)
    return min(tick_s * 2.0**doublings, max(MAX_RETRY_DELAY_S, tick_s))


class ConnectFailed(Exception):
    """Error raised when the connection factory fails, with the factory's error in the message."""


# Errors after which `run` closes the connection and tries again with backoff,
# rather than stopping: a lost or refused connection, or a failed connect.
RETRYABLE_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError, ConnectFailed)
# Server errors for a statement or database the account may not use:
# ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR.
_PRIVILEGE_ERRORS = frozenset({1044, 1142, 1143})


def _is_privilege_error(error: BaseException) -> bool:
    return (isinstance(error, pymysql.err.OperationalError) and bool(error.args)
            and error.args[0] in _PRIVILEGE_ERRORS)


@dataclass(frozen=True)
class SchedulerSettings:
    """Tick interval, demo mode and rule durations, all in seconds."""

    # Interval between the starts of two ticks.
    tick_s: float = 1.0
    # Also issue new tasks and delete old finished ones, so the demo table keeps moving.
    demo: bool = False
    # Demo mode: interval between two new tasks while the table has 10 to 19 rows.
    issue_every_s: float = 4.0
    # Demo mode: delete a finished task this long after its Scheduled_Time.
    cleanup_after_s: float = 180.0
    rules: RuleSettings = field(default_factory=RuleSettings)

    def __post_init__(self) -> None:
        for name in ("tick_s", "issue_every_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"Invalid {name}={value!r}: expected a number of seconds above 0.")
        if not 0 <= self.cleanup_after_s < HALF_DAY_S:
            raise ValueError(
                f"Invalid cleanup_after_s={self.cleanup_after_s!r}: expected seconds from 0 "
                f"to under {HALF_DAY_S} (12 h), because times of day are compared within 12 h."
            )


@dataclass(frozen=True)
class TickReport:
    """Counts of one tick: steps committed and rolled back, demo rows inserted and deleted."""

    applied: int = 0
    skipped: int = 0
    inserted: int = 0
    deleted: int = 0


class Scheduler:
    """Apply the task rules to robots.task, one tick at a time.

    `connect` opens a new connection, for example `functools.partial(pymysql.connect, ...)`.
    The scheduler switches autocommit off and needs only SELECT, INSERT, UPDATE
    and DELETE on robots.task. `clock` returns the time of day in seconds since
    midnight and defaults to the server clock. Tests pass their own clock.
    """

    def __init__(
        self,
        connect: ConnectionFactory,
        settings: SchedulerSettings | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or SchedulerSettings()
        self._connect = connect
        self._clock = clock or store.read_server_clock
        self._rng = rng or random.Random()
        self._connection: pymysql.connections.Connection | None = None
        self._last_issued_s: float | None = None
        self._reported_unknown_ids: set[int] = set()
        self._failed_attempts = 0

    @property
    def connection(self) -> pymysql.connections.Connection:
        """Return the open connection, opening a new one first if there is none."""
        if self._connection is None or not self._connection.open:
            self._connection = self._open()
        return self._connection

    def close(self) -> None:
        """Close the connection, so the server rolls back any transaction left open."""
        connection, self._connection = self._connection, None
        if connection is not None and connection.open:
            connection.close()

    def read_clock(self) -> float:
        """Return the time of day from the clock, in seconds since midnight."""
        return self._clock(self.connection)

    def read_tasks(self) -> TaskRows:
        """Read every task with one SELECT, and warn once for each row with an unknown status."""
        rows = store.read_tasks(self.connection)
        for task_id in sorted(set(rows.unknown_status_ids) - self._reported_unknown_ids):
            logger.warning(
                "task_id=%s has an unknown Status, so the scheduler leaves the row unchanged. "
                "Set Status to SCHEDULED, ACTIVE, COMPLETED, PREEMPTED or REJECTED.",
                task_id,
            )
            self._reported_unknown_ids.add(task_id)
        return rows

    def apply_step(self, step: Step) -> bool:
        """Apply one step in its own transaction and return False if it was rolled back."""
        mismatch = store.apply_step(self.connection, step)
        if mismatch is not None:
            logger.info(
                "step rolled back: task_id=%s no longer has status %s, so the next tick "
                "reads it again",
                mismatch.task_id,
                mismatch.from_status.value,
            )
            return False
        for transition in step.transitions:
            logger.debug(
                "task_id=%s status %s -> %s",
                transition.task_id,
                transition.from_status.value,
                transition.to_status.value,
            )
        return True

    def tick(self) -> TickReport:
        """Read the clock and the tasks, apply the due steps and, in demo mode, housekeep.

        On any error the connection is closed before the error propagates, so the
        server rolls back an unfinished step and the next tick reconnects.
        """
        try:
            return self._tick()
        except BaseException:
            self.close()
            raise

    def run(self, stop: threading.Event) -> None:
        """Tick every `tick_s` seconds until `stop` is set, then close the connection.

        Errors in RETRYABLE_ERRORS do not end the loop. The scheduler reconnects
        with a wait that doubles from `tick_s` up to 30 s, logs a WARNING once per
        outage and an INFO message when a tick succeeds again. Other exceptions
        propagate to the caller.
        """
        logger.info("scheduler started tick_s=%s demo=%s", self.settings.tick_s, self.settings.demo)
        try:
            while not stop.is_set():
                started = time.monotonic()
                delay_s = self._tick_or_back_off()
                stop.wait(max(0.0, delay_s - (time.monotonic() - started)))
        finally:
            self.close()
            logger.info("scheduler stopped")

    def _tick(self) -> TickReport:
        now_s = self.read_clock()
        rows = self.read_tasks()

        steps = plan_steps(rows.tasks, now_s, self.settings.rules)
        applied = sum(self.apply_step(step) for step in steps)
        report = TickReport(applied=applied, skipped=len(steps) - applied)

        if self.settings.demo:
            deleted = self._delete_tasks(
                tasks_to_delete(rows.tasks, now_s, self.settings.cleanup_after_s))
            row_count = rows.row_count - len(deleted)
            if should_issue(min(row_count, MAX_ROWS - 1), now_s, self._last_issued_s,
                            self.settings.issue_every_s):
                remaining = [task for task in rows.tasks if task.task_id not in deleted]
                room = task_to_make_room(remaining, row_count, now_s)
                made_room = self._delete_tasks([room] if room else [])
                deleted |= made_room
                row_count -= len(made_room)
            inserted = self._issue_task(row_count, now_s)
            report = TickReport(report.applied, report.skipped, inserted, len(deleted))
        return report

    def _delete_tasks(self, tasks: list[Task]) -> set[int]:
        """Delete each task that is unchanged since it was read; return the ids of those deleted."""
        deleted = set()
        for task in tasks:
            if store.delete_task(self.connection, task):
                logger.debug("demo deleted task_id=%s", task.task_id)
                deleted.add(task.task_id)
        return deleted

    def _issue_task(self, row_count: int, now_s: float) -> int:
        if not should_issue(row_count, now_s, self._last_issued_s, self.settings.issue_every_s):
            return 0
        task_id = store.insert_task(self.connection, make_task(now_s, self._rng))
        self._last_issued_s = now_s
        logger.debug("demo issued task_id=%s", task_id)
        return 1

    def _tick_or_back_off(self) -> float:
        """Tick once and return the delay before the next tick, which grows after each failure."""
        try:
            self.tick()
        except RETRYABLE_ERRORS as error:
            self._failed_attempts += 1
            if self._failed_attempts == 1 and _is_privilege_error(error):
                # A GRANT takes effect at once, so the scheduler keeps retrying.
                logger.error(
                    "tick failed because the account lacks a privilege: %s. Give it the "
                    "scheduler account's privileges from sql/grants.sql (SELECT, INSERT, "
                    "UPDATE and DELETE on robots.task), or connect as rowcast_scheduler; "
                    "retrying with backoff", error.args[-1],
                )
            elif self._failed_attempts == 1:
                logger.warning("tick failed, reconnecting with backoff: %s", error)
            else:
                logger.debug("tick failed again attempt=%s: %s", self._failed_attempts, error)
            return retry_delay_s(self.settings.tick_s, self._failed_attempts)

        if self._failed_attempts:
            logger.info("database reachable again after %s failed ticks", self._failed_attempts)
            self._failed_attempts = 0
        return self.settings.tick_s

    def _open(self) -> pymysql.connections.Connection:
        try:
            connection = self._connect()
        except Exception as error:
            # The factory may wrap driver errors in its own exception types, so
            # any exception from it counts as a failed connect and is retried.
            raise ConnectFailed(f"Opening a database connection failed: {error}") from error
        connection.autocommit(False)
        return connection
