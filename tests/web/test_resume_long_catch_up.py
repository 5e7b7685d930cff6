"""A long resume from the binlog: filtered, paced by a short queue, the same over SSE and WebSocket.

The catch-up reader encodes the changes on its own thread for these
transports, in runs of a bounded size. A client must still get exactly the
changes the live stream sent, in order, whatever the size of a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from clients import SseClient, WsClient
from servers import RunningApp, start_app

from cdc.catchup import ENCODED_RUN
from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings

# More changes than one encoded run contains, in one transaction.
BIG_TRANSACTION = ENCODED_RUN * 2 + 17
RENAMES = 150
# Far fewer than a resume replays, so the catch-up reader waits for the client.
MAX_PENDING = 40
FIRST_NEW_TASK = 1000


def write_mixed_changes(root: pymysql.Connection) -> int:
    """Commit single-row updates, then one big insert and one big delete; return the change count."""
    with root.cursor() as cursor:
        for number in range(RENAMES):
            cursor.execute("UPDATE robots.task SET Task_Name = %s WHERE Task_ID = %s",
                           (f"renamed {number}", number % 10 + 1))
        rows = ", ".join(
            f"({task_id}, {task_id % 5 + 1}, 'bulk {task_id}', '08:00:00', '09:00:00', 'SCHEDULED')"
            for task_id in range(FIRST_NEW_TASK, FIRST_NEW_TASK + BIG_TRANSACTION)
        )
        cursor.execute("INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Issued_Time, "
                       f"Scheduled_Time, Status) VALUES {rows}")
        cursor.execute("DELETE FROM robots.task WHERE Task_ID >= %s", (FIRST_NEW_TASK,))
    return RENAMES + 2 * BIG_TRANSACTION


@pytest.fixture
def watched(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> Iterator[tuple[RunningApp, list[dict[str, Any]]]]:
    """Yield an app with a short buffer and queue, and every change a live stream sent.

    The live stream is on a second app with the default queue, because the
    big transactions would overflow the short one. Both apps read the same
    binlog, so the ids agree.
    """
    short = start_app(reader_settings, hub=HubSettings(buffer_events=3, max_pending=MAX_PENDING))
    watcher = start_app(reader_settings)
    try:
        live = SseClient(f"{watcher.base_url}/events")
        live.next("status")
        count = write_mixed_changes(seeded_tasks)
        changes = live.changes(count)
        live.close()
        yield short, changes
    finally:
        watcher.stop()
        short.stop()


def resume_over(app: RunningApp, transport: str, query: str, count: int) -> list[dict[str, Any]]:
    """Return the first count changes a new stream sends, without the WebSocket's type field."""
    if transport == "sse":
        client: SseClient | WsClient = SseClient(f"{app.base_url}/events?{query}")
    else:
        client = WsClient(f"{app.ws_url}/ws?{query}")
    try:
        changes = client.changes(count)
    finally:
        client.close()
    return [{key: value for key, value in change.items() if key != "type"} for change in changes]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
@pytest.mark.parametrize("operations", ["", "insert,delete", "update"])
def test_long_resume_matches_live_stream(
    watched: tuple[RunningApp, list[dict[str, Any]]], transport: str, operations: str
) -> None:
    app, changes = watched
    start = 3
    expected = [change for change in changes[start + 1:]
                if not operations or change["op"] in operations.split(",")]
    query = f"last_event_id={changes[start]['id']}&op={operations}"
    assert resume_over(app, transport, query, len(expected)) == expected
    assert app.state.sent["sse" if transport == "sse" else "websocket"] == len(expected)
