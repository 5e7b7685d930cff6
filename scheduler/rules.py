"""Task status rules: which status changes are due at a given time, as a pure function.

Times are times of day in seconds since midnight on the database server's clock.
Because a TIME column has no date, every comparison is circular: a time T is
*due* at `now` when `(now - T) mod 24 h` lies in [0, 12 h), so a task scheduled
at 23:59:58 is due at 00:00:05 without a special case for midnight. The price of
the missing date is that a time more than 12 h in the past reads as a time in
the future.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

DAY_S = 86_400
HALF_DAY_S = DAY_S // 2


class Status(str, Enum):
    """Task status as stored in robots.task.Status."""

    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    PREEMPTED = "PREEMPTED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        """True for COMPLETED, PREEMPTED and REJECTED, which the scheduler never changes."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({Status.COMPLETED, Status.PREEMPTED, Status.REJECTED})


@dataclass(frozen=True)
class Task:
    """The columns of one robots.task row that the rules read.

    `issued_s` and `scheduled_s` are seconds since midnight, None for a NULL time.
    """

    task_id: int
    robot_id: int
    status: Status
    issued_s: float | None
    scheduled_s: float | None


@dataclass(frozen=True)
class Transition:
    """A status change that applies only while the row still has `from_status`."""

    task_id: int
    from_status: Status
    to_status: Status


@dataclass(frozen=True)
class Step:
    """Transitions that must commit together in one transaction, applied in order."""

    transitions: tuple[Transition, ...]


@dataclass(frozen=True)
class RuleSettings:
    """Durations that the rules use, in seconds."""

    # How long a task stays ACTIVE after its Scheduled_Time before it becomes COMPLETED.
    run_time_s: float = 30.0
    # How long a SCHEDULED task may be overdue and still start. A task overdue by
    # more, for example because the scheduler was stopped, becomes REJECTED.
    missed_slot_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("run_time_s", "missed_slot_s"):
            value = getattr(self, name)
            if not 0 <= value < HALF_DAY_S:
                raise ValueError(
                    f"Invalid {name}={value!r}: expected seconds from 0 to under "
                    f"{HALF_DAY_S} (12 h), because times of day are compared within 12 h."
                )


def seconds_since(time_s: float, now_s: float) -> float:
    """Return the seconds from `time_s` forward to `now_s` on a 24 h clock, in [0, 86400)."""
    return (now_s - time_s) % DAY_S


def is_due(time_s: float, now_s: float) -> bool:
    """Return whether the clock passed `time_s` within the 12 h before `now_s`."""
    return seconds_since(time_s, now_s) < HALF_DAY_S


def is_before(first_s: float, second_s: float) -> bool:
    """Return whether `first_s` is earlier than `second_s` by more than 0 and less than 12 h."""
    return 0 < seconds_since(first_s, second_s) < HALF_DAY_S


def plan_steps(tasks: Iterable[Task], now_s: float, settings: RuleSettings) -> list[Step]:
    """Return the steps that bring the tasks up to date at `now_s`, in the order to apply them.

    A SCHEDULED task becomes REJECTED when its Scheduled_Time lies before its
    Issued_Time, or when it has been due for more than `missed_slot_s`. Any other
    due SCHEDULED task becomes ACTIVE, and the same step preempts the ACTIVE task
    of its robot. An ACTIVE task becomes COMPLETED `run_time_s` after its
    Scheduled_Time. No step changes a COMPLETED, PREEMPTED or REJECTED task.

    Rejections come first, then completions, then activations robot by robot.
    When several tasks of one robot start in one tick, they start in order of
    Scheduled_Time, each step preempting the task that the previous step started,
    so the latest ends ACTIVE. A task with a NULL Issued_Time or Scheduled_Time
    never starts and is never rejected by the time rules, and an ACTIVE task with
    a NULL Scheduled_Time never completes, but it can still be preempted.
    """
    ordered = sorted(tasks, key=lambda task: task.task_id)
    rejected = [task for task in ordered if _is_rejected(task, now_s, settings)]
    completed = [task for task in ordered if _has_completed(task, now_s, settings)]
    rejected_ids = {task.task_id for task in rejected}
    completed_ids = {task.task_id for task in completed}
    starting = [
        task
        for task in ordered
        if task.task_id not in rejected_ids and _is_due_to_start(task, now_s)
    ]
    still_active = [
        task
        for task in ordered
        if task.status is Status.ACTIVE and task.task_id not in completed_ids
    ]

    steps = [_single(task, Status.REJECTED) for task in rejected]
    steps += [_single(task, Status.COMPLETED) for task in completed]
    steps += _activation_steps(still_active, starting, now_s)
    return steps


def _is_due_to_start(task: Task, now_s: float) -> bool:
    if task.status is not Status.SCHEDULED:
        return False
    if task.issued_s is None or task.scheduled_s is None:
        return False
    return is_due(task.scheduled_s, now_s)


def _is_rejected(task: Task, now_s: float, settings: RuleSettings) -> bool:
    if task.status is not Status.SCHEDULED or task.issued_s is None or task.scheduled_s is None:
        return False
    if is_before(task.scheduled_s, task.issued_s):
        return True
    if not is_due(task.scheduled_s, now_s):
        return False
    return seconds_since(task.scheduled_s, now_s) > settings.missed_slot_s


def _has_completed(task: Task, now_s: float, settings: RuleSettings) -> bool:
    if task.status is not Status.ACTIVE or task.scheduled_s is None:
        return False
    return is_due(task.scheduled_s + settings.run_time_s, now_s)


def _activation_steps(active: list[Task], starting: list[Task], now_s: float) -> list[Step]:
    active_ids_by_robot: dict[int, list[int]] = defaultdict(list)
    for task in active:
        active_ids_by_robot[task.robot_id].append(task.task_id)

    starting_by_robot: dict[int, list[Task]] = defaultdict(list)
    for task in starting:
        starting_by_robot[task.robot_id].append(task)

    steps: list[Step] = []
    for robot_id in sorted(starting_by_robot):
        # Longest overdue first, which is Scheduled_Time order across midnight too.
        queue = sorted(
            starting_by_robot[robot_id],
            key=lambda task: (-_overdue_s(task, now_s), task.task_id),
        )
        active_ids = active_ids_by_robot[robot_id]
        for task in queue:
            preempted = [
                Transition(active_id, Status.ACTIVE, Status.PREEMPTED) for active_id in active_ids
            ]
            started = Transition(task.task_id, Status.SCHEDULED, Status.ACTIVE)
            steps.append(Step((*preempted, started)))
            active_ids = [task.task_id]
    return steps


def _overdue_s(task: Task, now_s: float) -> float:
    if task.scheduled_s is None:
        raise ValueError(f"Task_ID={task.task_id} has no Scheduled_Time, so it cannot start.")
    return seconds_since(task.scheduled_s, now_s)


def _single(task: Task, to_status: Status) -> Step:
    return Step((Transition(task.task_id, task.status, to_status),))
