"""Helpers for scheduler tests: a clock that tests move, and row edits as root.

pytest puts this folder on sys.path (the default prepend import mode, because
it has no __init__.py), so tests import this module by its bare name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pymysql

from scheduler import Scheduler

MakeScheduler = Callable[..., Scheduler]
ConnectionFactory = Callable[[], pymysql.connections.Connection]


class FakeClock:
    """A clock that returns `now_s` until a test changes it, and sets `read` on each call."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s
        self.read = threading.Event()

    def __call__(self, connection: pymysql.connections.Connection) -> float:
        self.read.set()
        return self.now_s


class TaskTable:
    """Reads and writes robots.task as root, the way a person edits rows by hand."""

    def __init__(self, root: pymysql.connections.Connection) -> None:
        self.root = root

    def insert(
        self,
        status: str,
        scheduled: str | None,
        issued: str | None = "09:00:00",
        robot_id: int = 1,
    ) -> int:
        """Insert a row with times as 'HH:MM:SS' and return its Task_ID."""
        with self.root.cursor() as cursor:
            cursor.execute(
                "INSERT INTO robots.task (Robot_ID, Task_Name, Issued_Time, Scheduled_Time, Status)"
                " VALUES (%s, 'Test task', %s, %s, %s)",
                (robot_id, issued, scheduled, status),
            )
            return int(cursor.lastrowid)

    def set_status(self, task_id: int, status: str) -> None:
        with self.root.cursor() as cursor:
            cursor.execute(
                "UPDATE robots.task SET Status = %s WHERE Task_ID = %s", (status, task_id)
            )

    def status(self, task_id: int) -> str | None:
        return self.statuses().get(task_id)

    def statuses(self) -> dict[int, str]:
        with self.root.cursor() as cursor:
            cursor.execute("SELECT Task_ID, Status FROM robots.task")
            return {int(task_id): str(status) for task_id, status in cursor.fetchall()}

    def scheduled_s(self, task_id: int) -> int:
        with self.root.cursor() as cursor:
            cursor.execute(
                "SELECT TIME_TO_SEC(Scheduled_Time) FROM robots.task WHERE Task_ID = %s", (task_id,)
            )
            (seconds,) = cursor.fetchone()
            return int(seconds)

    def count(self) -> int:
        return len(self.statuses())

    def row(self, task_id: int) -> tuple[int, str, int, int, str]:
        """Return Robot_ID, Task_Name, Issued_Time and Scheduled_Time in seconds, Status."""
        with self.root.cursor() as cursor:
            cursor.execute(
                "SELECT Robot_ID, Task_Name, TIME_TO_SEC(Issued_Time),"
                " TIME_TO_SEC(Scheduled_Time), Status FROM robots.task WHERE Task_ID = %s",
                (task_id,),
            )
            robot_id, task_name, issued_s, scheduled_s, status = cursor.fetchone()
            return int(robot_id), str(task_name), int(issued_s), int(scheduled_s), str(status)
