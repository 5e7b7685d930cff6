"""Settings of the web app and the state its endpoints share."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from starlette.applications import Starlette

from cdc.stream import ChangeStream, StreamSettings
from web.limits import StreamSlots
from web.send_watch import SendWatch


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
    # Token clients must send (bearer header, or ?token= on /events and /ws); None: no token.
    token: str | None = field(default=None, repr=False)
    # Origins whose pages may open the WebSocket; empty: only the app's own origin.
    allowed_origins: tuple[str, ...] = ()
    # Origins allowed to call the API and SSE from other sites (CORS); empty: none.
    cors_origins: tuple[str, ...] = ()
    # Open SSE and WebSocket streams at most; more get 503 with Retry-After.
    max_streams: int = 10_000
    # Seconds without word from the reader after which /readyz reports not ready.
    ready_max_lag_s: float = 10.0
    # Seconds to wait for the reader to reach a resume id that lies ahead of it,
    # as an id from another process reading the same binlog may; 0 sends a
    # reset at once.
    resume_ahead_wait_s: float = 0.0


@dataclass
class AppState:
    """State the endpoints share for the lifetime of the app."""

    settings: AppSettings
    stream: ChangeStream
    slots: StreamSlots
    # Ends SSE streams whose client stopped reading, and sends heartbeats to idle ones.
    send_watch: SendWatch
    # Change events sent, by transport.
    sent: collections.Counter[str] = field(default_factory=collections.Counter)


def app_state(app: Starlette) -> AppState:
    """Return the state the lifespan stored on the app."""
    state: AppState = app.state.rowcast
    return state
