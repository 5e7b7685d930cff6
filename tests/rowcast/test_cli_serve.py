"""`rowcast serve` shuts down on SIGTERM by telling open streams to reconnect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pymysql
from websockets.sync.client import connect as ws_connect

from cdc.connection import ConnectionSettings
from clients import SseClient, WsClient
from rowcast.private_server import free_port


def test_sigterm_closes_streams_with_reason(reader_settings: ConnectionSettings) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rowcast.cli", "serve", "--mysql-url", reader_settings.url(),
         "--http-port", str(port), "--server-id", "7501"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "rowcast serve did not start"
                time.sleep(0.1)
        sse = SseClient(f"http://127.0.0.1:{port}/events")
        sse.next("status")
        # The client offers permessage-deflate; the server must not take it,
        # so that no connection keeps a compressor.
        with ws_connect(f"ws://127.0.0.1:{port}/ws") as offered:
            extensions = offered.response.headers.get("Sec-WebSocket-Extensions")
        websocket = WsClient(f"ws://127.0.0.1:{port}/ws")
        websocket.next("status")

        process.send_signal(signal.SIGTERM)
        closed = sse.next("closed")
        try:
            ws_reason = websocket.next("closed")["reason"]
        except ConnectionError:
            ws_reason = None
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert extensions is None
    assert "shutting down" in closed.data["reason"]
    assert "reconnect" in closed.data["reason"]
    # rowcast's own close message and uvicorn's close with 1012 ("service
    # restart") race; either one makes the client reconnect.
    assert websocket.close_code in (1001, 1012)
    assert ws_reason is None or "shutting down" in ws_reason
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert reader_settings.password not in output


def test_token_from_environment_guards_serve(
    reader_settings: ConnectionSettings, seeded_tasks: pymysql.Connection
) -> None:
    port = free_port()
    environment = os.environ | {"ROWCAST_TOKEN": "env-token-123"}
    help_text = subprocess.run(
        [sys.executable, "-m", "rowcast.cli", "serve", "--help"],
        capture_output=True, text=True, env=environment, check=True,
    ).stdout
    process = subprocess.Popen(
        [sys.executable, "-m", "rowcast.cli", "serve", "--mysql-url", reader_settings.url(),
         "--http-port", str(port), "--server-id", "7511"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment,
    )
    tail = None
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _up(base):
            assert time.monotonic() < deadline, "rowcast serve did not start"
            time.sleep(0.1)
        anonymous = httpx.get(base + "/api/tasks", timeout=10).status_code
        with_token = httpx.get(base + "/api/tasks", timeout=10,
                               headers={"Authorization": "Bearer env-token-123"}).status_code
        tail = subprocess.Popen(
            [sys.executable, "-m", "rowcast.cli", "tail", base, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        )
        assert tail.stderr is not None and tail.stdout is not None
        while "reader live" not in tail.stderr.readline():
            pass
        with seeded_tasks.cursor() as cursor:
            cursor.execute("UPDATE robots.task SET Status = 'REJECTED' WHERE Task_ID = 1")
        line = tail.stdout.readline()
    finally:
        if tail is not None:
            tail.terminate()
            tail.wait(timeout=30)
        process.terminate()
        process.wait(timeout=30)
    assert "env-token-123" not in help_text
    assert anonymous == 401
    assert with_token == 200
    assert json.loads(line)["key"] == {"Task_ID": 1}


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
