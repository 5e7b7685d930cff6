"""Serve apps whose reader settings a test chooses: excluded tables and columns, partial images."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import uvicorn
from servers import RunningApp, _server_ids

from cdc.connection import ConnectionSettings
from cdc.hub import HubSettings
from cdc.reader import ReaderSettings
from cdc.stream import StreamSettings
from cdc.tables import TableFilter
from rowcast.private_server import free_port
from web.app import create_app
from web.state import AppSettings


def start_reader_app(
    connection: ConnectionSettings, tables: TableFilter, **reader_options: Any
) -> RunningApp:
    """Serve a new app on a free port whose ReaderSettings get reader_options."""
    reader = ReaderSettings(connection, tables, server_id=next(_server_ids), heartbeat_s=0.5)
    reader = dataclasses.replace(reader, **reader_options)
    settings = AppSettings(StreamSettings(reader, HubSettings()), ping_s=5.0)
    port = free_port()
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port,
                            log_config=None, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"The app on port {port} did not start; see the log")
        time.sleep(0.02)
    return RunningApp(f"http://127.0.0.1:{port}", app, server, thread)
