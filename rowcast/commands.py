"""Implementations of the `rowcast` sub-commands, called with parsed options."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

from cdc.checks import require_ready, run_checks
from cdc.column_filter import ColumnFilter, require_excludable
from cdc.connection import ConnectionSettings
from cdc.errors import CdcError
from cdc.hub import HubSettings
from cdc.reader import ReaderSettings
from cdc.stream import StreamSettings
from cdc.tables import TableFilter
from rowcast import demo, workers
from rowcast.parent_exit import signal_on_parent_exit
from rowcast.private_server import PrivateServerError
from scheduler import Scheduler, SchedulerSettings
from web.app import begin_shutdown, create_app
from web.send_watch import TrackedHttpProtocol
from web.state import AppSettings

logger = logging.getLogger(__name__)

# Seconds uvicorn waits for open streams to close on shutdown before cancelling them.
GRACEFUL_SHUTDOWN_S = 5
# Seconds a worker waits for its reader to reach a resume id that another
# worker issued, before it sends a reset. Workers read the same binlog and
# normally lag each other by milliseconds.
RESUME_AHEAD_WAIT_S = 5.0
# Connections the kernel queues on the workers' shared socket; uvicorn's default.
LISTEN_BACKLOG = 2048


def fail(message: str) -> int:
    """Print one error line for an expected failure and return exit status 1."""
    print(f"rowcast: error: {message}", file=sys.stderr)
    return 1


def run_check(arguments: argparse.Namespace) -> int:
    """Print each required setting with ok or its fix; return 0 only when all are ok."""
    try:
        connection = ConnectionSettings.from_url(arguments.mysql_url)
        tables = TableFilter.parse(arguments.tables, arguments.exclude_tables)
        link = connection.connect()
    except CdcError as error:
        return fail(str(error))
    try:
        info, results = run_checks(link, tables, arguments.server_id,
                                   arguments.allow_partial_images)
    finally:
        link.close()
    print(f"server {connection.masked_url()}: {info.version}")
    for result in results:
        print(result.describe())
    failed = sum(not result.ok for result in results)
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 0 if not failed else 1


def run_scheduler(arguments: argparse.Namespace) -> int:
    """Run the scheduler in the foreground until Ctrl-C or SIGTERM."""
    try:
        connection = ConnectionSettings.from_url(arguments.mysql_url)
        connection.connect().close()
        settings = SchedulerSettings(tick_s=arguments.tick, demo=arguments.demo)
    except (CdcError, ValueError) as error:
        return fail(str(error))
    stop = threading.Event()
    _stop_on_signals(stop)
    logger.info("scheduler started url=%s demo=%s", connection.masked_url(), arguments.demo)
    Scheduler(functools.partial(connection.connect), settings).run(stop)
    logger.info("scheduler stopped")
    return 0


def run_serve(arguments: argparse.Namespace) -> int:
    """Run the reader and the web app against an existing server, in one or more workers."""
    listener: socket.socket | None = None
    try:
        connection = ConnectionSettings.from_url(arguments.mysql_url)
        app_settings = _app_settings(arguments, connection)
        if arguments.workers == 1:
            _check_port_free(arguments.http_host, arguments.http_port)
        else:
            listener = _bind_listener(arguments.http_host, arguments.http_port)
        # Each worker's reader checks its own server id, so check them all here
        # to fail once, before any worker starts.
        for index in range(arguments.workers):
            reader = workers.worker_settings(app_settings, index).stream.reader
            require_ready(connection.connect, reader.tables, reader.server_id,
                          arguments.allow_partial_images)
        require_excludable(connection.connect, app_settings.stream.reader.excluded_columns)
    except CdcError as error:
        if listener is not None:
            listener.close()
        return fail(str(error))
    print(f"rowcast: reading {connection.masked_url()}, tables {app_settings.stream.reader.tables}")
    print(f"rowcast: page at http://{arguments.http_host}:{arguments.http_port}/")
    if listener is None:
        return serve_http(app_settings, arguments.http_host, arguments.http_port)
    # Ids read by one worker may lie ahead of another worker's reader for a moment.
    app_settings = dataclasses.replace(app_settings, resume_ahead_wait_s=RESUME_AHEAD_WAIT_S)

    def serve_worker(settings: AppSettings, sockets: list[socket.socket],
                     on_started: Callable[[], None]) -> int:
        return serve_http(settings, arguments.http_host, arguments.http_port, sockets, on_started)

    return workers.WorkerPool(app_settings, listener, arguments.workers, serve_worker).run()


def run_demo(arguments: argparse.Namespace) -> int:
    """Start a private server (unless --mysql-url is given), the scheduler, reader and web."""
    if arguments.stop_with_parent:
        signal_on_parent_exit(os.getppid())
    try:
        _check_port_free(arguments.http_host, arguments.http_port)
        database = demo.prepare_database(arguments)
    except (CdcError, PrivateServerError) as error:
        return fail(str(error))
    try:
        app_settings = _app_settings(arguments, database.reader)
        require_ready(database.reader.connect, app_settings.stream.reader.tables,
                      arguments.server_id, arguments.allow_partial_images)
        require_excludable(database.reader.connect, app_settings.stream.reader.excluded_columns)
        demo.require_scheduler_account(database.scheduler)
    except CdcError as error:
        database.close()
        return fail(str(error))
    stop = threading.Event()
    scheduler = Scheduler(functools.partial(database.scheduler.connect),
                          SchedulerSettings(demo=True))
    scheduler_thread = threading.Thread(target=scheduler.run, args=(stop,), name="scheduler")
    scheduler_thread.start()
    try:
        demo.print_welcome(arguments.http_host, arguments.http_port, database)
        return serve_http(app_settings, arguments.http_host, arguments.http_port)
    finally:
        stop.set()
        scheduler_thread.join()
        database.close()


def serve_http(
    settings: AppSettings, host: str, port: int, sockets: list[socket.socket] | None = None,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Run uvicorn until Ctrl-C or SIGTERM; return 1 when the app failed to start.

    With sockets, uvicorn serves on those listening sockets instead of binding
    host:port itself. on_started runs once the server accepts connections.
    """
    app = create_app(settings)
    _space_full_collections()
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, lifespan="on",
        # permessage-deflate keeps a compressor per WebSocket connection (about
        # 45 KB) and compresses each change again for every client, which undoes
        # encoding it once. Change events are small, so they go uncompressed.
        ws_per_message_deflate=False,
        # Lets a stream whose client stopped reading drop its connection.
        http=TrackedHttpProtocol,
    )
    server = _Server(config, on_exit=lambda: begin_shutdown(app), on_started=on_started)
    # uvicorn handles SIGINT and SIGTERM itself, then raises the signal again
    # with the previous handler in place. These handlers turn that second
    # signal into an exception, so the caller's cleanup still runs.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    # A closed terminal sends SIGHUP, which uvicorn ignores: shut down as on SIGTERM.
    signal.signal(signal.SIGHUP, server.handle_exit)
    try:
        server.run(sockets)
    except ShutdownRequested:
        pass
    if not server.started:
        return fail(f"the web server did not start on {host}:{port}; see the log above")
    return 0


# Young-generation collections between two full collections of the cycle
# collector; Python's default is 10.
FULL_COLLECTION_EVERY = 1000


def _space_full_collections() -> None:
    """Make full garbage collections about 100 times rarer than by default.

    A full collection walks every tracked object, and the buffered change
    events are most of them. In the latency benchmark at 4,000 commits a
    second, each one paused the event loop for 40 to 75 ms every 3 to 7 s,
    and these pauses made the p99 latency. Young collections still free
    most garbage.
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def _app_settings(arguments: argparse.Namespace, connection: ConnectionSettings) -> AppSettings:
    reader = ReaderSettings(
        connection=connection,
        tables=TableFilter.parse(arguments.tables, arguments.exclude_tables),
        server_id=arguments.server_id,
        excluded_columns=ColumnFilter.parse(arguments.exclude_columns),
        allow_partial_images=arguments.allow_partial_images,
    )
    hub = HubSettings(
        buffer_events=arguments.buffer_events,
        buffer_bytes=arguments.buffer_mb * 1024 * 1024,
        max_pending=arguments.max_pending,
    )
    return AppSettings(
        stream=StreamSettings(reader=reader, hub=hub),
        token=arguments.token or None,
        allowed_origins=tuple(arguments.allowed_origins),
        cors_origins=tuple(arguments.cors_origins),
        max_streams=arguments.max_streams,
        ready_max_lag_s=arguments.ready_max_lag,
    )


def _check_port_free(host: str, port: int) -> None:
    _bind_listener(host, port).close()


def _bind_listener(host: str, port: int) -> socket.socket:
    """Bind host:port and listen on it; raise CdcError when that fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_BACKLOG)
    except OSError as error:
        listener.close()
        raise CdcError(
            f"cannot listen on {host}:{port} ({error.strerror}). Stop the program "
            "using that port or choose another with --http-port."
        ) from None
    return listener


class _Server(uvicorn.Server):
    """A uvicorn server that ends open streams as soon as shutdown starts."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None],
                 on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


class ShutdownRequested(Exception):
    """SIGINT or SIGTERM arrived after uvicorn had shut down."""


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise ShutdownRequested(signal.Signals(signum).name)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("signal received signal=%s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGHUP, handle)
