"""The Starlette app factory: routes, static page, and the lifespan that runs the stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from web.health import healthz, metrics, readyz
from web.limits import StreamSlots
from web.resume_wait import WaitingChangeStream
from web.security import TokenMiddleware
from web.send_watch import SendWatch
from web.snapshots import get_table, get_tasks
from web.sse import stream_events
from web.state import AppSettings, AppState
from web.websocket import stream_websocket

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The page loads only its own scripts and styles, so an injected tag cannot run code.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def index(request: Request) -> Response:
    """Serve the live page."""
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


async def table_page(request: Request) -> Response:
    """Serve the generic live view of any watched table; the page reads the name from its URL."""
    return FileResponse(STATIC_DIR / "table.html", headers=PAGE_HEADERS)


SHUTDOWN_REASON = "the server is shutting down; reconnect with the last event id to resume"


def begin_shutdown(app: Starlette) -> None:
    """End every open stream with a reason, so clients reconnect elsewhere or later.

    Call it on the event loop thread when the server starts shutting down: open
    streams would otherwise hold the graceful shutdown until its timeout.
    """
    state = getattr(app.state, "rowcast", None)
    if state is not None:
        state.stream.hub.close_all(SHUTDOWN_REASON)


def create_app(settings: AppSettings) -> Starlette:
    """Build the app; its lifespan starts the binlog reader and stops it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stream = WaitingChangeStream(settings.stream, settings.resume_ahead_wait_s)
        await stream.start()
        send_watch = SendWatch(settings.send_timeout_s, settings.ping_s)
        app.state.rowcast = AppState(settings, stream, StreamSlots(settings.max_streams),
                                     send_watch)
        watching = asyncio.create_task(send_watch.run(), name="sse-send-watch")
        try:
            yield
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await stream.stop()

    routes = [
        Route("/", index),
        Route("/table/{name}", table_page),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/tasks", get_tasks),
        Route("/api/tables/{name}", get_table),
        Route("/events", stream_events),
        WebSocketRoute("/ws", stream_websocket),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = []
    if settings.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins),
            allow_methods=["GET"], allow_headers=["Authorization", "Last-Event-ID"],
        ))
    if settings.token:
        middleware.append(Middleware(TokenMiddleware, token=settings.token))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
