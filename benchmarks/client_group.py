"""Client processes: each keeps many stream connections open and measures their deliveries.

The benchmark process writes changes and keeps their commit times; a client
process records when each change event arrived on each of its connections.
After a run of writes the benchmark sends the commit times over a pipe, and
the client process waits for the deliveries and replies with their latencies.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import multiprocessing
import resource
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Union

from benchmarks.clients import Receipts, Run, SseArrivals, SseConnection, WsConnection

CONNECT_TIMEOUT_S = 180.0
# Seconds a client process may take beyond its collect timeout to reply.
REPLY_TIMEOUT_S = 60.0
POLL_S = 0.02
# Connections each process opens at once, which keeps the handshakes in
# progress far below uvicorn's default listen backlog of 2048.
CONNECT_CONCURRENCY = 50
# A receive buffer far below the default, so that a client that stops reading
# leaves its backlog in the server (see clients._open_socket).
STALLED_RECEIVE_BUFFER = 4096

Stream = Union[SseArrivals, SseConnection, WsConnection]


@dataclass(frozen=True)
class GroupSpec:
    """Endpoint, kind and number of the connections of one client process."""

    port: int
    # "sse" for GET /events, "ws" for GET /ws.
    kind: str
    clients: int
    query: str
    # True for a client that subscribes and then never reads again.
    stalled: bool = False


@dataclass(frozen=True)
class ConnectReport:
    connected: int
    failed: int
    first_error: str
    seconds: float


@dataclass(frozen=True)
class Deliveries:
    """Deliveries of one run's changes to every connection of one client process.

    `committed_at[i]` is the commit time of the change whose delivery took
    `latencies_s[i]`. `stopped_at` is when the process stopped waiting: a change
    not delivered by then has a latency above stopped_at minus its commit time.
    """

    readers: int
    committed_at: array.array[float]
    latencies_s: array.array[float]
    stopped_at: float
    # Connections the server had ended by then, and the reason it gave for one of them.
    closed_by_server: int
    close_reason: str


def raise_file_limit() -> tuple[int, int]:
    """Raise this process's soft limit of open files to the hard limit; return (old, new)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        new = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        return soft, new
    return soft, soft


class ClientGroup:
    """One client process with `spec.clients` open streams."""

    def __init__(self, spec: GroupSpec) -> None:
        self.spec = spec
        # spawn starts a clean interpreter, without the benchmark's database
        # connections and threads that fork would copy.
        context = multiprocessing.get_context("spawn")
        self._pipe, child_pipe = context.Pipe()
        self._timeout_s = 0.0
        self._process = context.Process(
            target=_child_main, args=(spec, child_pipe), name=f"bench-{spec.kind}-clients",
            daemon=True,
        )
        self._process.start()
        child_pipe.close()

    def wait_connected(self) -> ConnectReport:
        report = self._receive(CONNECT_TIMEOUT_S)
        assert isinstance(report, ConnectReport)
        return report

    def collect(self, commits: dict[float, float], timeout_s: float) -> None:
        """Ask for the deliveries of these commits; the process waits up to timeout_s for them."""
        self._timeout_s = timeout_s
        self._pipe.send(("collect", commits, timeout_s))

    def result(self) -> Deliveries:
        """Return the reply to the last collect()."""
        result = self._receive(self._timeout_s + REPLY_TIMEOUT_S)
        assert isinstance(result, Deliveries)
        return result

    def stop(self) -> None:
        """Close the connections and end the process."""
        if self._process.is_alive():
            try:
                self._pipe.send(("stop",))
            except (BrokenPipeError, OSError):
                # The process exited in the meantime, so join returns at once.
                pass
            self._process.join(30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)
        self._pipe.close()

    def _receive(self, timeout_s: float) -> object:
        if not self._pipe.poll(timeout_s):
            raise TimeoutError(
                f"the {self.spec.kind} client process sent nothing in {timeout_s:.0f} s")
        message = self._pipe.recv()
        if isinstance(message, BaseException):
            raise RuntimeError(
                f"the {self.spec.kind} client process failed: {message}") from message
        return message


def start_groups(spec: GroupSpec, processes: int) -> tuple[list[ClientGroup], ConnectReport]:
    """Spread spec.clients over several client processes and wait until all have connected."""
    share, extra = divmod(spec.clients, processes)
    specs = [
        GroupSpec(spec.port, spec.kind, share + (index < extra), spec.query, spec.stalled)
        for index in range(processes)
    ]
    groups = [ClientGroup(one) for one in specs if one.clients]
    reports = [group.wait_connected() for group in groups]
    merged = ConnectReport(
        sum(report.connected for report in reports),
        sum(report.failed for report in reports),
        next((report.first_error for report in reports if report.first_error), ""),
        max(report.seconds for report in reports),
    )
    return groups, merged


def collect_all(
    groups: list[ClientGroup], commits: dict[float, float], timeout_s: float
) -> list[Deliveries]:
    """Ask every client process for the deliveries of these commits, then gather the replies."""
    for group in groups:
        group.collect(commits, timeout_s)
    return [group.result() for group in groups]


def stop_all(groups: list[ClientGroup]) -> None:
    for group in groups:
        group.stop()


def _child_main(spec: GroupSpec, pipe: Connection) -> None:
    raise_file_limit()
    try:
        asyncio.run(_run_group(spec, pipe))
    except Exception as error:  # noqa: BLE001 - handed to the benchmark process to raise
        pipe.send(error)
    finally:
        pipe.close()


async def _run_group(spec: GroupSpec, pipe: Connection) -> None:
    started = time.monotonic()
    receipts = Receipts()
    connections, errors = await _open_all(spec, receipts)
    pipe.send(ConnectReport(len(connections), len(errors),
                            repr(errors[0]) if errors else "", time.monotonic() - started))
    readers = [] if spec.stalled else [
        asyncio.create_task(connection.record_arrivals(receipts)) for connection in connections
    ]
    loop = asyncio.get_running_loop()
    try:
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command[0] == "stop":
                return
            _, commits, timeout_s = command
            deliveries = await _collect(receipts, commits, readers, timeout_s)
            closed = [one.closed_reason for one in connections if one.closed_reason is not None]
            pipe.send(dataclasses.replace(deliveries, closed_by_server=len(closed),
                                          close_reason=closed[0] if closed else ""))
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for connection in connections:
            await _close(connection)


async def _open_all(
    spec: GroupSpec, receipts: Receipts
) -> tuple[list[Stream], list[BaseException]]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one() -> Stream:
        async with gate:
            if spec.kind == "ws":
                return await WsConnection.open(spec.port, spec.query)
            if spec.stalled:
                return await SseConnection.open(spec.port, spec.query, STALLED_RECEIVE_BUFFER)
            return await SseArrivals.open(spec.port, spec.query, receipts)

    outcomes = await asyncio.gather(
        *(open_one() for _ in range(spec.clients)), return_exceptions=True
    )
    connections = [one for one in outcomes if not isinstance(one, BaseException)]
    errors = [one for one in outcomes if isinstance(one, BaseException)]
    return connections, errors


async def _collect(
    receipts: Receipts, commits: dict[float, float], readers: list[asyncio.Task[None]],
    timeout_s: float,
) -> Deliveries:
    """Wait until every reader has every commit, or timeout_s; return the latencies.

    Raises the error of a reader that failed; a reader whose stream the server
    ended has simply stopped receiving.
    """
    expected = len(commits) * len(readers)
    order = sorted(commits)
    index_of = {sent: index for index, sent in enumerate(order)}
    deadline = time.monotonic() + timeout_s
    delivered = 0
    scanned = 0
    while True:
        runs = receipts.runs
        delivered += sum(_commits_in(run, order, index_of)[1] for run in runs[scanned:])
        scanned = len(runs)
        if delivered >= expected or time.monotonic() >= deadline:
            break
        for reader in readers:
            error = reader.exception() if reader.done() else None
            if error is not None:
                # The message carries the cause because the pipe pickles only the exception.
                raise RuntimeError(f"a stream client failed: {error!r}") from error
        await asyncio.sleep(POLL_S)
    stopped_at = time.time()
    committed_at = array.array("d")
    latencies = array.array("d")
    for run in receipts.runs:
        first, count = _commits_in(run, order, index_of)
        for sent in order[first:first + count]:
            committed = commits[sent]
            committed_at.append(committed)
            latencies.append(run.received - committed)
    receipts.clear()
    return Deliveries(len(readers), committed_at, latencies, stopped_at, 0, "")


def _commits_in(run: Run, order: list[float], index_of: dict[float, int]) -> tuple[int, int]:
    """Return the index in order of the run's first commit of this measurement, and how many it has.

    A run that began before this measurement's first commit counts from that
    commit on. A run whose count does not match the commits between its first
    and last Sent_At lost or repeated events, so none of it counts as delivered.
    """
    last = index_of.get(run.last_sent)
    if last is None:
        return 0, 0
    first = index_of.get(run.first_sent)
    if first is None:
        if not order or run.first_sent >= order[0]:
            return 0, 0
        # The run began with commits from before this measurement.
        first = max(0, last - run.count + 1)
    elif last - first + 1 != run.count:
        return 0, 0
    return first, last - first + 1


async def _close(connection: Stream) -> None:
    if isinstance(connection, WsConnection):
        await connection.close()
    else:
        connection.close()
