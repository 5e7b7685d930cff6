"""Table-driven tests of plan_steps: each rule, midnight, several tasks per robot, NULL times."""

from __future__ import annotations

import pytest

from scheduler.rules import (
    RuleSettings,
    Status,
    Step,
    Task,
    Transition,
    is_before,
    is_due,
    plan_steps,
)

SCHEDULED = Status.SCHEDULED
ACTIVE = Status.ACTIVE
COMPLETED = Status.COMPLETED
PREEMPTED = Status.PREEMPTED
REJECTED = Status.REJECTED

SETTINGS = RuleSettings(run_time_s=30, missed_slot_s=600)


def at(clock_time: str) -> float:
    """Return seconds since midnight for 'HH:MM:SS'."""
    hours, minutes, seconds = (int(part) for part in clock_time.split(":"))
    return float(hours * 3600 + minutes * 60 + seconds)


def task(
    task_id: int,
    status: Status,
    scheduled: str | None,
    issued: str | None = "09:00:00",
    robot_id: int = 1,
) -> Task:
    return Task(
        task_id=task_id,
        robot_id=robot_id,
        status=status,
        issued_s=None if issued is None else at(issued),
        scheduled_s=None if scheduled is None else at(scheduled),
    )


def step(*transitions: tuple[int, Status, Status]) -> Step:
    return Step(tuple(Transition(*transition) for transition in transitions))


SINGLE_RULE_CASES = [
    pytest.param([task(1, SCHEDULED, "10:00:10")], "10:00:00", [], id="scheduled-not-due-yet"),
    pytest.param(
        [task(1, SCHEDULED, "10:00:00")],
        "10:00:00",
        [step((1, SCHEDULED, ACTIVE))],
        id="scheduled-due-now-starts",
    ),
    pytest.param(
        [task(1, SCHEDULED, "10:00:00", issued="10:00:00")],
        "10:00:00",
        [step((1, SCHEDULED, ACTIVE))],
        id="scheduled-at-issued-time-starts",
    ),
    pytest.param(
        [task(1, SCHEDULED, "10:00:00", issued="10:00:05")],
        "09:00:00",
        [step((1, SCHEDULED, REJECTED))],
        id="scheduled-before-issued-rejected-before-due",
    ),
    pytest.param(
        [task(1, SCHEDULED, "09:50:00")],
        "10:00:00",
        [step((1, SCHEDULED, ACTIVE))],
        id="overdue-by-missed-slot-still-starts",
    ),
    pytest.param(
        [task(1, SCHEDULED, "09:49:59")],
        "10:00:00",
        [step((1, SCHEDULED, REJECTED))],
        id="overdue-beyond-missed-slot-rejected",
    ),
    pytest.param([task(1, ACTIVE, "10:00:00")], "10:00:29", [], id="active-within-run-time-stays"),
    pytest.param(
        [task(1, ACTIVE, "10:00:00")],
        "10:00:30",
        [step((1, ACTIVE, COMPLETED))],
        id="active-after-run-time-completes",
    ),
    pytest.param(
        [task(1, ACTIVE, "10:00:00", issued="10:00:05")],
        "10:00:10",
        [],
        id="active-never-rejected",
    ),
]


@pytest.mark.parametrize(("tasks", "now", "expected"), SINGLE_RULE_CASES)
def test_single_rule_transitions(tasks: list[Task], now: str, expected: list[Step]) -> None:
    assert plan_steps(tasks, at(now), SETTINGS) == expected


@pytest.mark.parametrize("status", [COMPLETED, PREEMPTED, REJECTED])
@pytest.mark.parametrize(
    ("scheduled", "issued"),
    [("10:00:00", "09:00:00"), ("09:00:00", "10:00:00"), ("01:00:00", "00:30:00"), (None, None)],
)
def test_final_statuses_never_change(
    status: Status, scheduled: str | None, issued: str | None
) -> None:
    tasks = [task(1, status, scheduled, issued=issued)]

    assert plan_steps(tasks, at("10:00:00"), SETTINGS) == []


MIDNIGHT_CASES = [
    pytest.param(
        [task(1, SCHEDULED, "23:59:58", issued="23:59:50")],
        "00:00:05",
        [step((1, SCHEDULED, ACTIVE))],
        id="scheduled-before-midnight-due-after",
    ),
    pytest.param(
        [task(1, SCHEDULED, "00:00:03", issued="23:59:50")],
        "23:59:55",
        [],
        id="scheduled-after-midnight-not-due-before",
    ),
    pytest.param(
        [task(1, ACTIVE, "23:59:50", issued="23:59:00")],
        "00:00:19",
        [],
        id="active-across-midnight-still-running",
    ),
    pytest.param(
        [task(1, ACTIVE, "23:59:50", issued="23:59:00")],
        "00:00:21",
        [step((1, ACTIVE, COMPLETED))],
        id="active-across-midnight-completes",
    ),
    pytest.param(
        [task(1, SCHEDULED, "23:59:59", issued="00:00:02")],
        "12:00:00",
        [step((1, SCHEDULED, REJECTED))],
        id="scheduled-before-midnight-issued-after-rejected",
    ),
    pytest.param(
        [task(1, SCHEDULED, "00:00:02", issued="23:59:59")],
        "23:59:59",
        [],
        id="issued-before-midnight-scheduled-after-waits",
    ),
    pytest.param(
        [task(1, SCHEDULED, "23:55:00", issued="23:50:00")],
        "00:05:01",
        [step((1, SCHEDULED, REJECTED))],
        id="missed-slot-across-midnight-rejected",
    ),
]


@pytest.mark.parametrize(("tasks", "now", "expected"), MIDNIGHT_CASES)
def test_midnight_needs_no_special_case(tasks: list[Task], now: str, expected: list[Step]) -> None:
    assert plan_steps(tasks, at(now), SETTINGS) == expected


ROBOT_CASES = [
    pytest.param(
        [task(1, ACTIVE, "09:59:50"), task(2, SCHEDULED, "10:00:00")],
        "10:00:00",
        [step((1, ACTIVE, PREEMPTED), (2, SCHEDULED, ACTIVE))],
        id="start-preempts-active-in-one-step",
    ),
    pytest.param(
        [task(1, ACTIVE, "09:59:50", robot_id=2), task(2, SCHEDULED, "10:00:00", robot_id=1)],
        "10:00:00",
        [step((2, SCHEDULED, ACTIVE))],
        id="other-robot-active-task-untouched",
    ),
    pytest.param(
        [task(1, ACTIVE, "09:59:00"), task(2, SCHEDULED, "10:00:00")],
        "10:00:00",
        [step((1, ACTIVE, COMPLETED)), step((2, SCHEDULED, ACTIVE))],
        id="completed-task-not-preempted",
    ),
    pytest.param(
        [task(1, ACTIVE, "09:59:50"), task(2, SCHEDULED, "09:40:00")],
        "10:00:00",
        [step((2, SCHEDULED, REJECTED))],
        id="missed-slot-rejection-preempts-nothing",
    ),
    pytest.param(
        [
            task(3, ACTIVE, "09:59:50"),
            task(5, SCHEDULED, "10:00:05"),
            task(4, SCHEDULED, "10:00:02"),
        ],
        "10:00:06",
        [
            step((3, ACTIVE, PREEMPTED), (4, SCHEDULED, ACTIVE)),
            step((4, ACTIVE, PREEMPTED), (5, SCHEDULED, ACTIVE)),
        ],
        id="two-due-start-in-scheduled-order",
    ),
    pytest.param(
        [
            task(7, SCHEDULED, "00:00:01", issued="23:59:00"),
            task(8, SCHEDULED, "23:59:58", issued="23:59:00"),
        ],
        "00:00:03",
        [
            step((8, SCHEDULED, ACTIVE)),
            step((8, ACTIVE, PREEMPTED), (7, SCHEDULED, ACTIVE)),
        ],
        id="two-due-across-midnight-in-order",
    ),
    pytest.param(
        [task(1, ACTIVE, "09:59:50"), task(2, ACTIVE, "09:59:55"), task(3, SCHEDULED, "10:00:00")],
        "10:00:00",
        [step((1, ACTIVE, PREEMPTED), (2, ACTIVE, PREEMPTED), (3, SCHEDULED, ACTIVE))],
        id="start-preempts-every-active-task",
    ),
    pytest.param(
        [
            task(1, SCHEDULED, "10:00:00", robot_id=2),
            task(2, ACTIVE, "09:00:00", robot_id=3),
            task(3, SCHEDULED, "09:00:00", robot_id=1),
        ],
        "10:00:00",
        [
            step((3, SCHEDULED, REJECTED)),
            step((2, ACTIVE, COMPLETED)),
            step((1, SCHEDULED, ACTIVE)),
        ],
        id="rejections-then-completions-then-starts",
    ),
]


@pytest.mark.parametrize(("tasks", "now", "expected"), ROBOT_CASES)
def test_robot_runs_one_task(tasks: list[Task], now: str, expected: list[Step]) -> None:
    assert plan_steps(tasks, at(now), SETTINGS) == expected


NULL_TIME_CASES = [
    pytest.param([task(1, SCHEDULED, None)], [], id="scheduled-time-null-never-due"),
    pytest.param(
        [task(1, SCHEDULED, "10:00:00", issued=None)], [], id="issued-time-null-never-due"
    ),
    pytest.param(
        [task(1, SCHEDULED, "09:00:00", issued=None)], [], id="issued-null-no-missed-slot"
    ),
    pytest.param([task(1, SCHEDULED, None, issued=None)], [], id="both-times-null"),
    pytest.param([task(1, ACTIVE, None)], [], id="active-without-schedule-never-completes"),
    pytest.param(
        [task(1, ACTIVE, None), task(2, SCHEDULED, "10:00:00")],
        [step((1, ACTIVE, PREEMPTED), (2, SCHEDULED, ACTIVE))],
        id="active-without-schedule-preempted",
    ),
]


@pytest.mark.parametrize(("tasks", "expected"), NULL_TIME_CASES)
def test_null_times_never_crash(tasks: list[Task], expected: list[Step]) -> None:
    assert plan_steps(tasks, at("10:00:00"), SETTINGS) == expected


def test_run_time_setting_changes_completion() -> None:
    tasks = [task(1, ACTIVE, "10:00:00")]

    assert plan_steps(tasks, at("10:00:10"), RuleSettings(run_time_s=10)) == [
        step((1, ACTIVE, COMPLETED))
    ]


def test_missed_slot_setting_changes_rejection() -> None:
    tasks = [task(1, SCHEDULED, "09:59:00")]

    assert plan_steps(tasks, at("10:00:00"), RuleSettings(missed_slot_s=30)) == [
        step((1, SCHEDULED, REJECTED))
    ]


@pytest.mark.parametrize(
    ("time", "now", "expected"),
    [
        ("10:00:00", "10:00:00", True),
        ("10:00:00", "21:59:59", True),
        ("10:00:00", "22:00:00", False),
        ("10:00:01", "10:00:00", False),
        ("23:59:59", "00:00:00", True),
    ],
)
def test_is_due_within_twelve_hours(time: str, now: str, expected: bool) -> None:
    assert is_due(at(time), at(now)) is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("09:00:00", "10:00:00", True),
        ("10:00:00", "10:00:00", False),
        ("10:00:00", "09:00:00", False),
        ("23:59:59", "00:00:01", True),
        ("00:00:01", "23:59:59", False),
    ],
)
def test_is_before_compares_circularly(first: str, second: str, expected: bool) -> None:
    assert is_before(at(first), at(second)) is expected


@pytest.mark.parametrize("name", ["run_time_s", "missed_slot_s"])
@pytest.mark.parametrize("value", [-1.0, 43_200.0])
def test_rule_settings_reject_invalid_durations(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name}="):
        RuleSettings(**{name: value})
