"""Task scheduler for the demo table robots.task: moves task statuses on the server clock.

The rules live in `scheduler.rules` as a pure function. `Scheduler` applies them
once per tick, each status change as a conditional UPDATE in a short
transaction, and in demo mode also issues and deletes tasks. A command runs it
in a thread or in the foreground like this::

    stop = threading.Event()
    connect = functools.partial(pymysql.connect, host=..., port=..., user=...,
                                password=..., database="robots")
    scheduler = Scheduler(connect, SchedulerSettings(tick_s=1.0, demo=True))
    scheduler.run(stop)  # returns soon after another thread or a signal handler sets stop

The account needs only SELECT, INSERT, UPDATE and DELETE on robots.task.
"""

from scheduler.rules import RuleSettings, Status, Step, Task, Transition, plan_steps
from scheduler.runner import ConnectFailed, Scheduler, SchedulerSettings, TickReport

__all__ = [
    "ConnectFailed",
    "RuleSettings",
    "Scheduler",
    "SchedulerSettings",
    "Status",
    "Step",
    "Task",
    "TickReport",
    "Transition",
    "plan_steps",
]
