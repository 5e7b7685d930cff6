"""Fixtures for scheduler tests: an empty task table, row helpers, a test clock, schedulers."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest

from cdc.connection import ConnectionSettings
from scheduler import Scheduler, SchedulerSettings
from scheduler_support import ConnectionFactory, FakeClock, MakeScheduler, TaskTable


@pytest.fixture
def empty_tasks(root: pymysql.Connection) -> pymysql.Connection:
    """Delete every row of robots.task and return the root connection."""
    with root.cursor() as cursor:
        cursor.execute("DELETE FROM robots.task")
    return root


@pytest.fixture
def table(root: pymysql.Connection) -> TaskTable:
    """Return row helpers on the root connection."""
    return TaskTable(root)


@pytest.fixture
def clock() -> FakeClock:
    """Return a test clock set to 10:00:00."""
    return FakeClock(36_000.0)


@pytest.fixture
def make_scheduler(
    scheduler_settings: ConnectionSettings, clock: FakeClock
) -> Iterator[MakeScheduler]:
    """Return a factory of schedulers on the scheduler account and the test clock."""
    created: list[Scheduler] = []

    def make(
        settings: SchedulerSettings | None = None, connect: ConnectionFactory | None = None
    ) -> Scheduler:
        scheduler = Scheduler(connect or scheduler_settings.connect, settings, clock)
        created.append(scheduler)
        return scheduler

    yield make
    for scheduler in created:
        scheduler.close()
