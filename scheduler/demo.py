"""Demo housekeeping: which new tasks to issue and which finished tasks to delete.

The demo keeps robots.task moving at about 10 to 20 rows. These functions only
decide, and the runner writes the rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from scheduler.rules import DAY_S, Task, is_due, seconds_since

# Below this many rows the demo issues a task on every tick, without waiting
# for the issue interval.
MIN_ROWS = 10
# At this many rows or more the demo issues no task.
MAX_ROWS = 20
ROBOT_IDS = (1, 2, 3, 4, 5)
# A new task is scheduled this many seconds after it is issued, drawn uniformly.
MIN_LEAD_S = 3
MAX_LEAD_S = 20
TASK_NAMES = (
    "Pick crate A7",
    "Scan aisle 4",
    "Charge battery",
    "Deliver parts to L2",
    "Restock shelf B2",
    "Inspect conveyor",
    "Calibrate arm",
    "Map loading dock",
    "Sort returns",
    "Wrap pallet 12",
)


@dataclass(frozen=True)
class NewTask:
    """A SCHEDULED task to insert, with times in whole seconds since midnight."""

    robot_id: int
    task_name: str
    issued_s: int
    scheduled_s: int


def tasks_to_delete(tasks: Iterable[Task], now_s: float, cleanup_after_s: float) -> list[Task]:
    """Return the finished tasks whose Scheduled_Time lies more than `cleanup_after_s` back.

    A finished task with a NULL Scheduled_Time is never deleted, because its age is unknown.
    """
    return [
        task
        for task in tasks
        if task.status.is_final
        and task.scheduled_s is not None
        and is_due(task.scheduled_s, now_s)
        and seconds_since(task.scheduled_s, now_s) > cleanup_after_s
    ]


def task_to_make_room(tasks: Iterable[Task], row_count: int, now_s: float) -> Task | None:
    """Return the finished task scheduled longest ago when the table is full, else None.

    Deleting it lets the demo issue a new task, so that a table full of
    finished tasks does not stand still until their cleanup.
    """
    if row_count < MAX_ROWS:
        return None
    finished = [
        task
        for task in tasks
        if task.status.is_final and task.scheduled_s is not None and is_due(task.scheduled_s, now_s)
    ]
    return max(finished, key=lambda task: seconds_since(task.scheduled_s or 0, now_s), default=None)


def should_issue(
    row_count: int, now_s: float, last_issued_s: float | None, issue_every_s: float
) -> bool:
    """Return whether the demo issues a task now, given the rows left after deleting."""
    if row_count >= MAX_ROWS:
        return False
    if row_count < MIN_ROWS or last_issued_s is None:
        return True
    return seconds_since(last_issued_s, now_s) >= issue_every_s


def make_task(now_s: float, rng: random.Random) -> NewTask:
    """Return a task for a random robot, issued at `now_s` in whole seconds, due 3 to 20 s later."""
    issued_s = int(now_s) % DAY_S
    return NewTask(
        robot_id=rng.choice(ROBOT_IDS),
        task_name=rng.choice(TASK_NAMES),
        issued_s=issued_s,
        scheduled_s=(issued_s + rng.randint(MIN_LEAD_S, MAX_LEAD_S)) % DAY_S,
    )
