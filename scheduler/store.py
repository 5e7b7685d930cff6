"""SQL against robots.task: read the clock and the tasks, apply steps, insert and delete.

Every write is conditional on the status that the scheduler read, so that a
manual edit made after the read is never overwritten. Each function that
writes runs its own short transaction and needs only SELECT, INSERT, UPDATE
and DELETE on robots.task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pymysql

from scheduler.demo import NewTask
from scheduler.rules import Status, Step, Task, Transition

SELECT_CLOCK = "SELECT TIME_TO_SEC(CURTIME(6))"
SELECT_TASKS = (
    "SELECT Task_ID, Robot_ID, Status, TIME_TO_SEC(Issued_Time), TIME_TO_SEC(Scheduled_Time) "
    "FROM robots.task"
)
UPDATE_STATUS = "UPDATE robots.task SET Status = %s WHERE Task_ID = %s AND Status = %s"
DELETE_TASK = "DELETE FROM robots.task WHERE Task_ID = %s AND Status = %s"
INSERT_TASK = (
    "INSERT INTO robots.task (Robot_ID, Task_Name, Issued_Time, Scheduled_Time, Status) "
    "VALUES (%s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class TaskRows:
    """The rows of robots.task, split into tasks the rules can read and the rest.

    `unknown_status_ids` lists the Task_IDs whose Status matches none of the
    five known values. The scheduler leaves those rows unchanged.
    """

    tasks: list[Task]
    unknown_status_ids: list[int]

    @property
    def row_count(self) -> int:
        return len(self.tasks) + len(self.unknown_status_ids)


def read_server_clock(connection: pymysql.connections.Connection) -> float:
    """Return the server's time of day in seconds since midnight, with microseconds."""
    with connection.cursor() as cursor:
        cursor.execute(SELECT_CLOCK)
        (seconds,) = cursor.fetchone()
    connection.commit()
    return float(seconds)


def read_tasks(connection: pymysql.connections.Connection) -> TaskRows:
    """Read every row of robots.task with one SELECT, then end the read transaction."""
    with connection.cursor() as cursor:
        cursor.execute(SELECT_TASKS)
        rows = cursor.fetchall()
    # End the transaction that the SELECT opened. Under InnoDB REPEATABLE READ
    # the next SELECT in the same transaction would return this snapshot again.
    connection.commit()

    tasks: list[Task] = []
    unknown_status_ids: list[int] = []
    for task_id, robot_id, raw_status, issued_s, scheduled_s in rows:
        status = parse_status(raw_status)
        if status is None:
            unknown_status_ids.append(int(task_id))
            continue
        issued, scheduled = _seconds(issued_s), _seconds(scheduled_s)
        tasks.append(Task(int(task_id), int(robot_id), status, issued, scheduled))
    return TaskRows(tasks, unknown_status_ids)


def parse_status(raw_status: str) -> Status | None:
    """Return the Status that the column value matches, or None for an unknown value.

    The column collation utf8mb4_unicode_ci ignores case and trailing spaces, so
    the CHECK constraint accepts 'active ' and the conditional UPDATE matches it.
    This function matches the same spellings.
    """
    try:
        return Status(raw_status.rstrip(" ").upper())
    except ValueError:
        return None


def apply_step(connection: pymysql.connections.Connection, step: Step) -> Transition | None:
    """Apply the transitions of a step in one transaction.

    Return None after committing. When a row no longer has the status that a
    transition expects, roll the whole step back and return that transition.
    """
    connection.begin()
    with connection.cursor() as cursor:
        for transition in step.transitions:
            changed = cursor.execute(
                UPDATE_STATUS,
                (transition.to_status.value, transition.task_id, transition.from_status.value),
            )
            if changed != 1:
                connection.rollback()
                return transition
    connection.commit()
    return None


def delete_task(connection: pymysql.connections.Connection, task: Task) -> bool:
    """Delete a task if it still has the status it was read with, and return whether it did."""
    connection.begin()
    with connection.cursor() as cursor:
        deleted = cursor.execute(DELETE_TASK, (task.task_id, task.status.value))
    connection.commit()
    return bool(deleted)


def insert_task(connection: pymysql.connections.Connection, new_task: NewTask) -> int:
    """Insert a SCHEDULED task and return the Task_ID that AUTO_INCREMENT assigned."""
    connection.begin()
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_TASK,
            (
                new_task.robot_id,
                new_task.task_name,
                timedelta(seconds=new_task.issued_s),
                timedelta(seconds=new_task.scheduled_s),
                Status.SCHEDULED.value,
            ),
        )
        task_id = int(cursor.lastrowid)
    connection.commit()
    return task_id


def _seconds(value: int | Decimal | None) -> float | None:
    # pymysql returns TIME_TO_SEC of a TIME(0) column as int, and NULL as None.
    if value is None:
        return None
    return float(value)


# Statements that need each privilege the scheduler uses, on no rows: a
# missing privilege fails them, and they change nothing.
PRIVILEGE_PROBES = (
    ("SELECT", "SELECT Task_ID FROM robots.task WHERE FALSE"),
    ("INSERT", "INSERT INTO robots.task SELECT * FROM robots.task WHERE FALSE"),
    ("UPDATE", "UPDATE robots.task SET Status = Status WHERE FALSE"),
    ("DELETE", "DELETE FROM robots.task WHERE FALSE"),
)
# Server error codes of a denied privilege and of a missing table.
_DENIED = frozenset({1044, 1142, 1143})
_NO_SUCH_TABLE = 1146


def missing_privileges(connection: pymysql.connections.Connection) -> list[str]:
    """Return the privileges on robots.task that the account lacks, of SELECT, INSERT, UPDATE, DELETE.

    Raises pymysql's error when robots.task does not exist. Each probe
    affects no row, and the transaction is rolled back.
    """
    missing = []
    try:
        with connection.cursor() as cursor:
            for privilege, statement in PRIVILEGE_PROBES:
                try:
                    cursor.execute(statement)
                except pymysql.err.MySQLError as error:
                    if not error.args or error.args[0] not in _DENIED:
                        raise
                    missing.append(privilege)
    finally:
        connection.rollback()
    return missing


def is_missing_table(error: BaseException) -> bool:
    """Tell whether a database error means that a table does not exist."""
    if not isinstance(error, pymysql.err.MySQLError) or not error.args:
        return False
    return error.args[0] == _NO_SUCH_TABLE
