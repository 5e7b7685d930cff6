"""Demo mode: issuing and deleting tasks, as pure decisions and against the private server."""

from __future__ import annotations

import random

import pymysql
import pytest

from scheduler import SchedulerSettings, Status, Task, TickReport, store
from scheduler.demo import (
    MAX_LEAD_S,
    MAX_ROWS,
    MIN_LEAD_S,
    ROBOT_IDS,
    TASK_NAMES,
    make_task,
    should_issue,
    task_to_make_room,
    tasks_to_delete,
)
from scheduler_support import FakeClock, MakeScheduler, TaskTable

DEMO = SchedulerSettings(demo=True, issue_every_s=4.0, cleanup_after_s=180.0)
TEN_AM = 36_000.0


def finished(task_id: int, status: Status, scheduled_s: float | None) -> Task:
    return Task(task_id, 1, status, scheduled_s, scheduled_s)


@pytest.mark.parametrize(
    ("row_count", "now_s", "last_issued_s", "expected"),
    [
        pytest.param(0, TEN_AM, TEN_AM, True, id="empty-table-issues-at-once"),
        pytest.param(9, TEN_AM, TEN_AM, True, id="nine-rows-issues-at-once"),
        pytest.param(10, TEN_AM, None, True, id="first-issue-needs-no-wait"),
        pytest.param(10, TEN_AM + 3.9, TEN_AM, False, id="interval-not-over-waits"),
        pytest.param(10, TEN_AM + 4, TEN_AM, True, id="interval-over-issues"),
        pytest.param(19, 2.0, 86_398.0, True, id="interval-over-across-midnight"),
        pytest.param(20, TEN_AM, None, False, id="twenty-rows-never-issue"),
    ],
)
def test_should_issue_keeps_row_range(
    row_count: int, now_s: float, last_issued_s: float | None, expected: bool
) -> None:
    assert should_issue(row_count, now_s, last_issued_s, 4.0) is expected


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        pytest.param(finished(1, Status.COMPLETED, TEN_AM - 181), True, id="completed-old-deleted"),
        pytest.param(finished(1, Status.PREEMPTED, TEN_AM - 181), True, id="preempted-old-deleted"),
        pytest.param(finished(1, Status.REJECTED, TEN_AM - 181), True, id="rejected-old-deleted"),
        pytest.param(
            finished(1, Status.COMPLETED, TEN_AM - 179), False, id="completed-recent-kept"
        ),
        pytest.param(finished(1, Status.COMPLETED, TEN_AM + 60), False, id="completed-future-kept"),
        pytest.param(finished(1, Status.COMPLETED, None), False, id="completed-null-time-kept"),
        pytest.param(finished(1, Status.ACTIVE, TEN_AM - 600), False, id="active-old-kept"),
        pytest.param(finished(1, Status.SCHEDULED, TEN_AM - 600), False, id="scheduled-old-kept"),
    ],
)
def test_tasks_to_delete_picks_old_finished(task: Task, expected: bool) -> None:
    assert (tasks_to_delete([task], TEN_AM, 180.0) == [task]) is expected


def test_old_finished_deleted_across_midnight() -> None:
    task = finished(1, Status.COMPLETED, 86_300.0)

    assert tasks_to_delete([task], 100.0, 180.0) == [task]


@pytest.mark.parametrize("seed", range(50))
def test_make_task_stays_in_ranges(seed: int) -> None:
    new_task = make_task(86_395.5, random.Random(seed))
    lead_s = (new_task.scheduled_s - new_task.issued_s) % 86_400

    assert new_task.robot_id in ROBOT_IDS
    assert new_task.task_name in TASK_NAMES
    assert new_task.issued_s == 86_395
    assert lead_s >= MIN_LEAD_S
    assert lead_s <= MAX_LEAD_S
    assert new_task.scheduled_s < 86_400


def test_demo_tick_inserts_scheduled_task(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    report = make_scheduler(DEMO).tick()

    (task_id,) = table.statuses()
    robot_id, task_name, issued_s, scheduled_s, status = table.row(task_id)
    assert report == TickReport(inserted=1)
    assert robot_id in ROBOT_IDS
    assert task_name in TASK_NAMES
    assert issued_s == TEN_AM
    assert scheduled_s - issued_s >= MIN_LEAD_S
    assert scheduled_s - issued_s <= MAX_LEAD_S
    assert status == "SCHEDULED"


def test_demo_fills_small_table_each_tick(
    empty_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    scheduler = make_scheduler(DEMO)

    scheduler.tick()
    clock.now_s += 1
    scheduler.tick()

    assert table.count() == 2


def test_demo_waits_interval_above_ten(
    empty_tasks: pymysql.Connection,
    table: TaskTable,
    clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    for _ in range(10):
        table.insert("SCHEDULED", "11:00:00")
    scheduler = make_scheduler(DEMO)

    scheduler.tick()
    clock.now_s += 1
    waited = scheduler.tick()
    clock.now_s += 3
    issued = scheduler.tick()

    assert waited.inserted == 0
    assert issued.inserted == 1
    assert table.count() == 12


def test_demo_stops_at_twenty_rows(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    for _ in range(20):
        table.insert("SCHEDULED", "11:00:00")

    report = make_scheduler(DEMO).tick()

    assert report.inserted == 0
    assert table.count() == 20


def test_make_room_picks_oldest_finished() -> None:
    tasks = [finished(1, Status.COMPLETED, TEN_AM - 60), finished(2, Status.REJECTED, TEN_AM - 90),
             finished(3, Status.ACTIVE, TEN_AM - 600), finished(4, Status.COMPLETED, TEN_AM + 60),
             finished(5, Status.PREEMPTED, None)]

    assert task_to_make_room(tasks, MAX_ROWS, TEN_AM) == tasks[1]
    assert task_to_make_room(tasks, MAX_ROWS - 1, TEN_AM) is None
    assert task_to_make_room(tasks[2:], MAX_ROWS, TEN_AM) is None


def test_full_finished_table_issues_task(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    oldest = table.insert("COMPLETED", "09:58:00")
    for _ in range(MAX_ROWS - 1):
        table.insert("COMPLETED", "09:59:00")

    report = make_scheduler(DEMO).tick()

    statuses = table.statuses()
    assert report.deleted == 1
    assert report.inserted == 1
    assert oldest not in statuses
    assert list(statuses.values()).count("SCHEDULED") == 1
    assert table.count() == MAX_ROWS


def test_demo_deletes_old_finished_tasks(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    old_completed = table.insert("COMPLETED", "09:56:59")
    old_rejected = table.insert("REJECTED", "09:40:00", robot_id=2)
    recent_preempted = table.insert("PREEMPTED", "09:57:30", robot_id=3)
    old_active = table.insert("ACTIVE", None, robot_id=4)

    report = make_scheduler(DEMO).tick()

    remaining = table.statuses()
    assert report.deleted == 2
    assert old_completed not in remaining
    assert old_rejected not in remaining
    assert recent_preempted in remaining
    assert old_active in remaining


def test_demo_keeps_manually_revived_task(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    revived = table.insert("COMPLETED", "09:50:00")
    scheduler = make_scheduler(DEMO)
    (stale,) = tasks_to_delete(scheduler.read_tasks().tasks, TEN_AM, DEMO.cleanup_after_s)

    table.set_status(revived, "ACTIVE")
    deleted = store.delete_task(scheduler.connection, stale)

    assert deleted is False
    assert table.status(revived) == "ACTIVE"


def test_demo_off_changes_no_rows(
    empty_tasks: pymysql.Connection, table: TaskTable, make_scheduler: MakeScheduler
) -> None:
    old_completed = table.insert("COMPLETED", "09:00:00")

    report = make_scheduler().tick()

    assert report == TickReport()
    assert table.statuses() == {old_completed: "COMPLETED"}
