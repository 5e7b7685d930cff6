"""Settings of the web app and the state its endpoints share."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette

from cdc.stream import ChangeStream, StreamSettings


@dataclass(frozen=True)
class AppSettings:
    """Settings of the web app."""

    stream: StreamSettings
    # The table GET /api/tasks serves, as (database, table).
    tasks_table: tuple[str, str] = ("robots", "task")
    # Seconds between SSE heartbeat comments.
    ping_s: float = 15.0
    # Milliseconds an EventSource waits before reconnecting (the SSE retry field).
    retry_ms: int = 2000
    # Seconds one write to a client may take before the client is dropped.
    send_timeout_s: float = 30.0


@dataclass(frozen=True)
class AppState:
    settings: AppSettings
    stream: ChangeStream


def app_state(app: Starlette) -> AppState:
    """Return the state the lifespan stored on the app."""
    state: AppState = app.state.rowcast
    return state
