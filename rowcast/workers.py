"""Run `rowcast serve` as several worker processes that share one listening socket.

The parent binds the socket, forks the workers and supervises them. Each worker
runs uvicorn and its own change stream, so that the workers use every core.
uvicorn's own multi-process mode (uvicorn.supervisors.Multiprocess in uvicorn
0.55) starts every worker with the same settings, but each rowcast worker
needs replica server ids of its own. So rowcast forks its workers itself, in
the pre-fork model gunicorn uses.

Every worker reads the same binlog, and event ids come from binlog positions,
so all workers issue the same ids and a client can resume on any of them.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from rowcast.cli import WORKER_LOG_FORMAT
from rowcast.parent_exit import signal_on_parent_exit
from web.state import AppSettings

logger = logging.getLogger(__name__)

# Signals that stop the parent and, through it, every worker.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Seconds the workers get after SIGTERM before they are killed. This covers
# uvicorn's graceful shutdown (5 s), the reader's join timeout (10 s) and a margin.
STOP_TIMEOUT_S = 30.0
# A worker that exits on its own is started again after this delay, doubled
# for each further exit before it has started, up to the maximum.
RESTART_DELAY_S = 1.0
RESTART_DELAY_MAX_S = 30.0
# Seconds between two checks of the workers while nothing else happens.
POLL_S = 0.2

# Runs the web app on the given listening sockets and calls the callback once
# it accepts connections; returns the exit status.
ServeFunction = Callable[[AppSettings, list[socket.socket], Callable[[], None]], int]


def server_id_step(settings: AppSettings) -> int:
    """Return how far apart the workers' replica server ids are.

    The reader uses its server id and the catch-up readers the ids right after
    it, so each worker takes 1 + catch_up_slots ids (5 by default).
    """
    return 1 + settings.stream.catch_up_slots


def worker_settings(settings: AppSettings, index: int) -> AppSettings:
    """Return the settings of worker `index` (from 0): its reader's server id moved up."""
    reader = settings.stream.reader
    reader = dataclasses.replace(reader, server_id=reader.server_id + index * server_id_step(settings))
    return dataclasses.replace(settings, stream=dataclasses.replace(settings.stream, reader=reader))


@dataclass
class _Worker:
    """One running worker process and the pipe on which it reports that it started."""

    index: int
    process: BaseProcess
    started_pipe: Connection
    started: bool = False

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid


class WorkerPool:
    """Start `count` workers on one socket, restart those that exit, stop all on a signal."""

    def __init__(self, settings: AppSettings, listener: socket.socket, count: int,
                 serve: ServeFunction) -> None:
        self._settings = settings
        self._listener = listener
        self._count = count
        self._serve = serve
        # fork keeps the listening socket and the loaded modules; the parent
        # runs no other threads, so forking it is safe.
        self._context = multiprocessing.get_context("fork")
        self._workers: dict[int, _Worker] = {}
        # Exits of each worker since it last started, for the restart delay.
        self._failures: dict[int, int] = {}
        self._restart_at: dict[int, float] = {}
        self._signals: list[int] = []

    def run(self) -> int:
        """Serve until SIGINT, SIGTERM or SIGHUP; return the exit status."""
        previous = {number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS}
        try:
            for index in range(self._count):
                self._start(index)
            status = self._serve_until_stopped()
            if not self._stop_all():
                status = status or 1
            return status
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self._listener.close()

    def _serve_until_stopped(self) -> int:
        failed = self._wait_until_started()
        if failed is not None:
            failed.process.join()
            failed.started_pipe.close()
            del self._workers[failed.index]
            print(f"rowcast: error: worker {failed.index} (pid {failed.pid}) exited with "
                  f"{_describe_exit(failed.process)} before it started; see the log above",
                  file=sys.stderr)
            return 1
        if self._signals:
            return 0
        pids = ", ".join(str(worker.pid) for worker in self._workers.values())
        print(f"rowcast: {self._count} workers ready (pids {pids})", flush=True)
        while not self._signals:
            self._wait(self._next_timeout())
            self._note_started()
            self._restart_exited()
        return 0

    def _wait_until_started(self) -> _Worker | None:
        """Wait until every worker has started or a stop signal came; return one that failed."""
        while not self._signals:
            self._note_started()
            if all(worker.started for worker in self._workers.values()):
                return None
            for worker in self._workers.values():
                if not worker.started and not worker.process.is_alive():
                    logger.error("worker failed to start worker=%s pid=%s exit=%s",
                                 worker.index, worker.pid, _describe_exit(worker.process))
                    return worker
            self._wait(POLL_S)
        return None

    def _start(self, index: int) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_run_worker,
            args=(self._serve, worker_settings(self._settings, index), self._listener, writer,
                  os.getpid()),
            name=f"worker-{index}", daemon=False,
        )
        # A forked child would write out the parent's unwritten buffer a second time.
        sys.stdout.flush()
        sys.stderr.flush()
        process.start()
        writer.close()
        self._workers[index] = _Worker(index, process, reader)
        self._restart_at.pop(index, None)
        logger.info("worker starting worker=%s pid=%s server_id=%s", index, process.pid,
                    worker_settings(self._settings, index).stream.reader.server_id)

    def _note_started(self) -> None:
        for worker in self._workers.values():
            if worker.started or not worker.started_pipe.poll():
                continue
            try:
                worker.started_pipe.recv()
            except EOFError:
                # The worker exited before it started; _restart_exited reports it.
                continue
            worker.started = True
            self._failures[worker.index] = 0
            logger.info("worker started worker=%s pid=%s", worker.index, worker.pid)

    def _restart_exited(self) -> None:
        now = time.monotonic()
        for index, worker in list(self._workers.items()):
            if worker.process.is_alive():
                continue
            worker.process.join()
            worker.started_pipe.close()
            del self._workers[index]
            failures = self._failures.get(index, 0)
            delay = min(RESTART_DELAY_MAX_S, RESTART_DELAY_S * 2 ** failures)
            self._failures[index] = failures + 1
            self._restart_at[index] = now + delay
            logger.error(
                "worker exited unexpectedly worker=%s pid=%s exit=%s started=%s restart_in_s=%.1f",
                index, worker.pid, _describe_exit(worker.process), worker.started, delay,
            )
        for index, due in list(self._restart_at.items()):
            if due <= now:
                self._start(index)

    def _next_timeout(self) -> float:
        if not self._restart_at:
            return POLL_S
        return max(0.0, min(POLL_S, min(self._restart_at.values()) - time.monotonic()))

    def _wait(self, timeout: float) -> None:
        """Wait until a worker starts or exits, a signal arrives, or timeout seconds pass."""
        handles: list[object] = []
        for worker in self._workers.values():
            handles.append(worker.process.sentinel)
            if not worker.started:
                handles.append(worker.started_pipe)
        # A signal handler runs during the wait, which then goes on until the
        # timeout, so a stop signal takes effect within one timeout.
        wait(handles, timeout)  # type: ignore[arg-type]

    def _stop_all(self) -> bool:
        """Send SIGTERM to every worker and wait for them; return False unless all stopped cleanly."""
        running = [worker for worker in self._workers.values() if worker.process.is_alive()]
        if running:
            logger.info("stopping workers pids=%s", [worker.pid for worker in running])
        for worker in running:
            _send(worker, signal.SIGTERM)
        # The first signal started the stop; a later SIGINT is a second Ctrl-C.
        forwarded = min(1, len(self._signals))
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(worker.process.is_alive() for worker in running):
            if time.monotonic() >= deadline:
                break
            wait([worker.process.sentinel for worker in running], POLL_S)
            # Another Ctrl-C makes uvicorn skip the rest of its graceful shutdown.
            if signal.SIGINT in self._signals[forwarded:]:
                for worker in running:
                    _send(worker, signal.SIGINT)
            forwarded = len(self._signals)
        clean = True
        for worker in running:
            if worker.process.is_alive():
                logger.error("worker did not stop within %.0f s, killing it worker=%s pid=%s",
                             STOP_TIMEOUT_S, worker.index, worker.pid)
                worker.process.kill()
                clean = False
            worker.process.join()
            worker.started_pipe.close()
            # A worker stopped by SIGTERM before it had set up its handlers had no streams yet.
            if worker.process.exitcode not in (0, -signal.SIGTERM):
                logger.error("worker stopped with exit=%s worker=%s pid=%s",
                             _describe_exit(worker.process), worker.index, worker.pid)
                clean = False
        logger.info("all workers stopped")
        return clean

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self._signals.append(number)


def _send(worker: _Worker, number: int) -> None:
    try:
        os.kill(worker.pid, number)
    except ProcessLookupError:
        # The worker exited in the meantime; joining it collects its status.
        pass


def _describe_exit(process: BaseProcess) -> str:
    code = process.exitcode
    if code is None:
        return "no status yet"
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


def _run_worker(serve: ServeFunction, settings: AppSettings, listener: socket.socket,
                started_pipe: Connection, parent_pid: int) -> None:
    """Run one worker in the forked child; exit with the web server's status."""
    # Terminal signals such as Ctrl-C then reach only the parent, which
    # forwards them once to every worker.
    os.setpgid(0, 0)
    # Until uvicorn sets up its handlers the worker has no streams to close,
    # so a signal may end it at once.
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    _stop_with_parent(parent_pid)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(WORKER_LOG_FORMAT))

    def report_started() -> None:
        started_pipe.send(True)
        started_pipe.close()

    sys.exit(serve(settings, [listener], report_started))


def _stop_with_parent(parent_pid: int) -> None:
    """Have Linux send SIGTERM when the parent dies, so that no worker is left behind."""
    if not signal_on_parent_exit(parent_pid):
        # NOTE: without prctl (not Linux), workers outlive a parent that was killed.
        logger.debug("prctl is missing; workers outlive a parent that was killed")
