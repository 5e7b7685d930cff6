"""Token, Origin, CORS and stream limits, and the health and metrics endpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymysql
import pytest
from websockets.sync.client import connect as ws_connect

from cdc.connection import ConnectionSettings
from clients import SseClient, WsClient
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE
from servers import READER_PASSWORD, RunningApp, start_app, start_server

TOKEN = "s3cret-token"


@pytest.fixture
def token_app(reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection) -> Iterator[RunningApp]:
    app = start_app(reader_settings, token=TOKEN)
    yield app
    app.stop()


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/tasks", {}, 401),
        ("/api/tasks", {"Authorization": "Bearer wrong"}, 401),
        ("/api/tasks", {"Authorization": f"Bearer {TOKEN}"}, 200),
        (f"/api/tasks?token={TOKEN}", {}, 401),
        ("/api/tables/robots.task", {}, 401),
        ("/metrics", {}, 401),
        ("/metrics", {"Authorization": f"Bearer {TOKEN}"}, 200),
        ("/events", {}, 401),
        ("/healthz", {}, 200),
        ("/readyz", {}, None),
        ("/", {}, 200),
        ("/static/app.js", {}, 200),
    ],
)
def test_token_required_where_data_flows(
    token_app: RunningApp, path: str, headers: dict[str, str], status: int | None
) -> None:
    """Check each path's status; None means any status but 401 (readiness varies)."""
    response = httpx.get(token_app.base_url + path, headers=headers, timeout=10)
    if status is None:
        assert response.status_code != 401
    else:
        assert response.status_code == status


def test_missing_token_message_says_how(token_app: RunningApp) -> None:
    response = httpx.get(token_app.base_url + "/api/tasks", timeout=10)
    assert "Authorization: Bearer TOKEN" in response.json()["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.text


def test_token_in_query_opens_streams(token_app: RunningApp, root: pymysql.Connection) -> None:
    sse = SseClient(f"{token_app.base_url}/events?token={TOKEN}")
    websocket = WsClient(f"{token_app.ws_url}/ws?token={TOKEN}")
    sse.next("status")
    websocket.next("status")
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 1")
    assert sse.changes(1)[0]["key"] == {"Task_ID": 1}
    assert websocket.changes(1)[0]["key"] == {"Task_ID": 1}
    sse.close()
    websocket.close()


def test_websocket_without_token_closed(token_app: RunningApp) -> None:
    client = WsClient(f"{token_app.ws_url}/ws")
    with pytest.raises(ConnectionError):
        client.next(None, timeout=10)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(None, True), ("http://{host}", True), ("http://evil.example", False),
     ("https://{host}.evil.example", False)],
)
def test_websocket_origin_check(app: RunningApp, origin: str | None, allowed: bool) -> None:
    host = app.base_url.removeprefix("http://")
    headers = {} if origin is None else {"Origin": origin.format(host=host)}
    with ws_connect(f"{app.ws_url}/ws", additional_headers=headers, open_timeout=10) as websocket:
        if allowed:
            assert '"type":"status"' in str(websocket.recv(timeout=10))
        else:
            with pytest.raises(Exception):
                websocket.recv(timeout=10)
            assert websocket.close_code == 1008


def test_cors_off_by_default(app: RunningApp) -> None:
    response = httpx.get(app.base_url + "/api/tasks", headers={"Origin": "http://other.example"},
                         timeout=10)
    assert "access-control-allow-origin" not in response.headers


def test_cors_for_configured_origin(reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection) -> None:
    app = start_app(reader_settings, cors_origins=("http://dashboard.example",))
    try:
        allowed = httpx.get(app.base_url + "/api/tasks",
                            headers={"Origin": "http://dashboard.example"}, timeout=10)
        other = httpx.get(app.base_url + "/api/tasks",
                          headers={"Origin": "http://other.example"}, timeout=10)
    finally:
        app.stop()
    assert allowed.headers["access-control-allow-origin"] == "http://dashboard.example"
    assert "access-control-allow-origin" not in other.headers


def test_stream_limit_returns_503(reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection) -> None:
    app = start_app(reader_settings, max_streams=2)
    try:
        first = SseClient(f"{app.base_url}/events")
        second = WsClient(f"{app.ws_url}/ws")
        first.next("status")
        second.next("status")
        refused = httpx.get(app.base_url + "/events", timeout=10)
        third_ws = WsClient(f"{app.ws_url}/ws")
        with pytest.raises(ConnectionError):
            third_ws.next(None, timeout=10)
        first.close()
        second.close()
        metrics = ""
        for _ in range(50):
            metrics = httpx.get(app.base_url + "/metrics", timeout=10).text
            if 'rowcast_subscribers{transport="sse"} 0.0' in metrics:
                break
            time.sleep(0.1)
        after = SseClient(f"{app.base_url}/events")
        after.next("status")
        after.close()
    finally:
        app.stop()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "already serves 2 streams" in refused.json()["message"]
    assert third_ws.close_code == 1013
    assert "rowcast_streams_refused_total 2.0" in metrics


def test_health_and_metrics(app: RunningApp, root: pymysql.Connection) -> None:
    client = SseClient(f"{app.base_url}/events")
    client.next("status")
    with root.cursor() as cursor:
        cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 1")
    client.changes(1)
    assert httpx.get(app.base_url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(app.base_url + "/readyz", timeout=10)
    metrics = httpx.get(app.base_url + "/metrics", timeout=10).text
    client.close()
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert 'rowcast_events_read_total{op="update",table="robots.task"} 1.0' in metrics
    assert 'rowcast_events_sent_total{transport="sse"} 1.0' in metrics
    assert 'rowcast_subscribers{transport="sse"} 1.0' in metrics
    assert "rowcast_reader_lag_seconds" in metrics
    assert 'rowcast_binlog_position{file="binlog.' in metrics
    assert READER_PASSWORD not in metrics


def test_readyz_fails_while_database_down(tmp_path: Path) -> None:
    server = start_server(tmp_path / "down")
    server.load_sql(SCHEMA_FILE, GRANTS_FILE)
    connection = ConnectionSettings("127.0.0.1", server.port, "rowcast_reader", READER_PASSWORD, "robots")
    app = start_app(connection)
    try:
        assert wait_for_status(app.base_url + "/readyz", 200) == 200
        server.stop()
        down = wait_for_status(app.base_url + "/readyz", 503)
        body = httpx.get(app.base_url + "/readyz", timeout=10).json()
        server.start()
        back = wait_for_status(app.base_url + "/readyz", 200)
    finally:
        app.stop()
        server.stop()
    assert down == 503
    assert "reconnecting" in body["problems"][0]
    assert back == 200


def wait_for_status(url: str, expected: int, attempts: int = 150) -> int:
    """Poll url until it returns the expected status; return the last status seen."""
    status = 0
    for _ in range(attempts):
        status = httpx.get(url, timeout=10).status_code
        if status == expected:
            break
        time.sleep(0.1)
    return status
