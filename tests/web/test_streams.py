"""Manual SQL edits arrive on SSE and on the WebSocket, in commit order, with both images."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pymysql
import pytest

from clients import SseClient, WsClient
from servers import RunningApp


def edit_rows(root: pymysql.Connection) -> None:
    """Make one INSERT, one UPDATE and one DELETE, each its own transaction."""
    with root.cursor() as cursor:
        cursor.execute(
            "INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Issued_Time, Scheduled_Time, "
            "Status) VALUES (42, 2, 'Hand-typed task ✓', '08:00:00', '08:30:00', 'SCHEDULED')"
        )
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 3")
        cursor.execute("DELETE FROM robots.task WHERE Task_ID = 5")


def check_edits(changes: list[dict[str, Any]]) -> None:
    insert, update, delete = changes
    assert [change["op"] for change in changes] == ["insert", "update", "delete"]
    assert insert["before"] is None
    assert insert["after"] == {
        "Task_ID": 42, "Robot_ID": 2, "Task_Name": "Hand-typed task ✓",
        "Issued_Time": "08:00:00", "Scheduled_Time": "08:30:00", "Status": "SCHEDULED",
    }
    assert insert["key"] == {"Task_ID": 42}
    assert update["before"]["Status"] == "ACTIVE"
    assert update["after"]["Status"] == "REJECTED"
    assert update["key"] == {"Task_ID": 3}
    assert delete["before"]["Task_ID"] == 5
    assert delete["after"] is None
    assert changes[0]["id"] < changes[1]["id"] < changes[2]["id"]
    for change in changes:
        assert change["db"] == "robots"
        assert change["table"] == "task"
        assert change["txn"]["last"] is True
        assert isinstance(change["ts_ms"], int)
        assert change["source"]["server_id"] == 1


def test_manual_edits_arrive_on_sse(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    assert client.next("status").data["state"] in ("live", "starting")
    edit_rows(root)
    changes = client.changes(3)
    client.close()
    check_edits(changes)


def test_manual_edits_arrive_on_websocket(app: RunningApp, root: pymysql.Connection) -> None:
    client = WsClient(f"{app.ws_url}/ws")
    client.next("status")
    edit_rows(root)
    changes = client.changes(3)
    client.close()
    check_edits(changes)
    assert all(change["type"] == "change" for change in changes)


def test_sse_ids_resume_after_last_event(app: RunningApp, root: pymysql.Connection) -> None:
    first = SseClient(f"{app.base_url}/events")
    edit_rows(root)
    changes = first.changes(3)
    first.close()

    resumed = SseClient(f"{app.base_url}/events", headers={"Last-Event-ID": changes[0]["id"]})
    assert [change["id"] for change in resumed.changes(2)] == [c["id"] for c in changes[1:]]
    resumed.close()
    by_query = SseClient(f"{app.base_url}/events?last_event_id={changes[1]['id']}")
    assert by_query.changes(1)[0]["id"] == changes[2]["id"]
    by_query.close()


def test_first_status_carries_current_id(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    status = client.next("status")
    client.close()
    edit_rows(root)
    assert status.id is not None
    resumed = SseClient(f"{app.base_url}/events", headers={"Last-Event-ID": status.id})
    check_edits(resumed.changes(3))
    resumed.close()


def test_sse_sends_retry_hint_and_event_ids(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    edit_rows(root)
    message = client.next("change")
    client.close()
    assert client.retry == 2000
    assert message.id == message.data["id"]


def test_transaction_marks_only_last_change(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("UPDATE robots.task SET Status = 'PREEMPTED' WHERE Task_ID = 3")
        cursor.execute("UPDATE robots.task SET Status = 'ACTIVE' WHERE Task_ID = 1")
        cursor.execute("COMMIT")
    changes = client.changes(2)
    client.close()
    assert [change["txn"]["last"] for change in changes] == [False, True]
    assert changes[0]["txn"]["id"] == changes[1]["txn"]["id"]


@pytest.mark.parametrize(
    ("query", "ops"),
    [("op=delete", ["delete"]), ("op=insert,delete", ["insert", "delete"]),
     ("op=update&op=insert", ["insert", "update"]),
     ("op=&table=", ["insert", "update", "delete"])],
)
def test_sse_op_filter(app: RunningApp, root: pymysql.Connection, query: str, ops: list[str]) -> None:
    client = SseClient(f"{app.base_url}/events?{query}")
    client.next("status")
    edit_rows(root)
    changes = client.changes(len(ops))
    client.close()
    assert [change["op"] for change in changes] == ops


def test_sse_table_filter(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events?table=robots.task")
    client.next("status")
    edit_rows(root)
    assert len(client.changes(3)) == 3
    client.close()


@pytest.mark.parametrize(
    ("query", "parameter", "value", "fragment"),
    [
        ("op=upsert", "op", "upsert", "use insert, update or delete"),
        ("table=shop.orders", "table", "shop.orders", "not watched"),
        ("table=robots", "table", "robots", "expected db.table"),
        ("last_event_id=abc", "last_event_id", "abc", "Invalid event id"),
    ],
)
def test_sse_rejects_bad_parameters(
    app: RunningApp, query: str, parameter: str, value: str, fragment: str
) -> None:
    response = httpx.get(f"{app.base_url}/events?{query}", timeout=10)
    body = response.json()
    assert response.status_code == 400
    assert body["parameter"] == parameter
    assert body["value"] == value
    assert fragment in body["message"]


def test_websocket_rejects_bad_op_with_1008(
    app: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="web.websocket")
    client = WsClient(f"{app.ws_url}/ws?op=upsert")
    error = client.next("error")
    assert error["parameter"] == "op"
    with pytest.raises(Exception):
        client.next(None, timeout=5)
    assert client.close_code == 1008
    assert "websocket rejected parameter=op value='upsert'" in caplog.messages


def test_sse_logs_rejected_parameter(app: RunningApp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="web.sse")
    response = httpx.get(f"{app.base_url}/events?op=up%0Asert", timeout=10)
    assert response.status_code == 400
    # repr keeps a line break in the value from starting a log line of its own.
    assert "sse rejected parameter=op value='up\\nsert'" in caplog.messages


def test_other_server_id_gets_reset(app: RunningApp) -> None:
    other_id = "00000000-0000000001-000000000004-0000000001"
    client = SseClient(f"{app.base_url}/events?last_event_id={other_id}")
    reset = client.next("reset")
    client.close()
    assert reset.data["reason"] == "other_server"
    assert reset.id == reset.data["last_event_id"]


def test_future_event_id_gets_reset(app: RunningApp) -> None:
    snapshot = httpx.get(f"{app.base_url}/api/tasks", timeout=10).json()
    source = snapshot["last_event_id"].split("-")[0]
    future_id = f"{source}-0000009999-000000000004-0000000001"
    client = SseClient(f"{app.base_url}/events?last_event_id={future_id}")
    reset = client.next("reset")
    client.close()
    assert reset.data["reason"] == "unknown"


def test_api_tasks_matches_table(app: RunningApp, root: pymysql.Connection) -> None:
    edit_rows(root)
    body = httpx.get(f"{app.base_url}/api/tasks", timeout=10).json()
    with root.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("SELECT Task_ID, Robot_ID, Task_Name, Status FROM robots.task ORDER BY Task_ID")
        rows = cursor.fetchall()
    served = [{name: task[name] for name in ("Task_ID", "Robot_ID", "Task_Name", "Status")}
              for task in body["tasks"]]
    assert served == rows
    assert all(isinstance(task["Issued_Time"], str) for task in body["tasks"] if task["Issued_Time"])


def test_snapshot_then_subscribe_sees_later_edits(app: RunningApp, root: pymysql.Connection) -> None:
    body = httpx.get(f"{app.base_url}/api/tasks", timeout=10).json()
    edit_rows(root)
    client = SseClient(f"{app.base_url}/events?last_event_id={body['last_event_id']}")
    check_edits(client.changes(3))
    client.close()


def test_generic_table_snapshot(app: RunningApp) -> None:
    body = httpx.get(f"{app.base_url}/api/tables/robots.task", timeout=10).json()
    assert body["key"] == ["Task_ID"]
    assert body["columns"][0] == "Task_ID"
    assert len(body["rows"]) == 10


def test_unwatched_table_snapshot_is_404(app: RunningApp) -> None:
    response = httpx.get(f"{app.base_url}/api/tables/mysql.user", timeout=10)
    assert response.status_code == 404
    assert "not watched" in response.json()["message"]
