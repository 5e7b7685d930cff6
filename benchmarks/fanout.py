"""Fan-out: many concurrent SSE or WebSocket clients on one `rowcast serve` server.

For each client count the writer commits 100 changes a second for one run,
cut into windows as in the latency benchmark. A case may run the server with
several worker processes. The server's CPU time and resident memory, summed
over its processes, come from /proc, sampled at each window's end.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.client_group import GroupSpec, collect_all, start_groups, stop_all
from benchmarks.clients import first_streams
from benchmarks.database import TIMED_TABLE, BenchDatabase, TimedWriter
from benchmarks.results import Figure, Summary, join_notes
from benchmarks.server_process import ProcessSample, ServeProcess
from benchmarks.windows import (
    WindowStats,
    closed_note,
    delivery_note,
    latency_summary,
    split_windows,
)

SECTION = "3. Fan-out"
METHOD = (
    "A fresh `rowcast serve` per row group, with one worker process unless the label "
    "names more (`--workers N`), its clients spread over 2 client "
    "processes (asyncio; SSE on raw sockets, WebSocket with the websockets package). "
    "The writer commits 100 single-row updates a second; each window of the run is a "
    "repeat. Delivered per second counts a window's deliveries to all clients over the "
    "time from its first commit to its last delivery. Server CPU and resident memory "
    "come from /proc/PID/stat and /proc/PID/status, summed over the server's processes."
)
RATE = 100
CLIENT_PROCESSES = 2
# Seconds between the last connection and the idle memory sample, for the
# server to finish the work of the last connections.
SETTLE_S = 1.0
# The targets started at 50 KB per idle client and a p99 of 100 ms with 1,000
# and 500 ms with 5,000 SSE clients. With SSE, runs on a 2-core AMD EPYC
# reached 24 to 26 KB, 61 ms and 220 to 260 ms, so those targets were raised,
# with room left for this shared machine's noise. A WebSocket client took
# about 37 KB, so its target stays.
MAX_BYTES_PER_IDLE_CLIENT = {"sse": 35 * 1024, "ws": 50 * 1024}
# p99 targets in milliseconds by (kind, clients); these need every change delivered too.
P99_TARGETS_MS = {("sse", 1000): 80.0, ("sse", 5000): 400.0}
KIND_NAMES = {"sse": "SSE", "ws": "WebSocket"}


@dataclass(frozen=True)
class FanoutSizes:
    """Cases as (kind, clients, server workers), run length, windows and drain time."""

    configs: tuple[tuple[str, int, int], ...]
    run_s: float
    windows: int
    # Seconds the clients may take after the last commit to receive everything.
    drain_s: float


@dataclass(frozen=True)
class _Run:
    connected: int
    failed: int
    first_error: str
    connect_s: float
    idle_bytes_per_client: float
    windows: list[WindowStats]
    cpu_percent: list[float]
    rss_bytes: list[int]
    # The count of clients the server disconnected and its reason; empty when none were.
    closed_note: str


def run_fanout(database: BenchDatabase, sizes: FanoutSizes, work_dir: Path) -> list[Figure]:
    """Measure each client count on a fresh server process."""
    figures: list[Figure] = []
    for kind, clients, workers in sizes.configs:
        run = _measure(database, sizes, kind, clients, workers, work_dir)
        figures.extend(_figures(kind, clients, workers, run, sizes.drain_s))
        delivered = sum(window.delivered for window in run.windows)
        expected = sum(window.expected for window in run.windows)
        print(f"fan-out: {_label(kind, clients, workers)}: {run.connected:,} connected, "
              f"{delivered:,} of {expected:,} deliveries", flush=True)
    return figures


def _measure(
    database: BenchDatabase, sizes: FanoutSizes, kind: str, clients: int, workers: int,
    work_dir: Path,
) -> _Run:
    with ExitStack() as cleanup:
        server = ServeProcess(database.reader_url, ".".join(TIMED_TABLE),
                              work_dir / f"serve-fanout-{kind}-{clients}-{workers}.log",
                              workers=workers)
        cleanup.callback(server.stop)
        query = "table=" + ".".join(TIMED_TABLE)
        # One stream for each worker, which the kernel may hand to the same
        # worker, stays open while the memory per client is measured.
        with first_streams(server.port, kind, query, workers):
            before = server.sample()
            groups, report = start_groups(GroupSpec(server.port, kind, clients, query),
                                          CLIENT_PROCESSES)
            cleanup.callback(stop_all, groups)
            time.sleep(SETTLE_S)
            idle = server.sample()
        writer = TimedWriter(database.server)
        cleanup.callback(writer.close)

        window_s = sizes.run_s / sizes.windows
        samples = [server.sample()]
        commits: dict[float, float] = {}
        started = time.time()
        for _ in range(sizes.windows):
            commits |= writer.write(RATE, window_s, int(RATE * window_s))
            samples.append(server.sample())
        results = collect_all(groups, commits, sizes.drain_s)

    readers = report.connected
    return _Run(
        connected=readers, failed=report.failed, first_error=report.first_error,
        connect_s=report.seconds,
        idle_bytes_per_client=(idle.rss_bytes - before.rss_bytes) / max(readers, 1),
        windows=split_windows(results, commits, started, window_s, sizes.windows),
        cpu_percent=[_cpu_percent(a, b) for a, b in zip(samples, samples[1:])],
        rss_bytes=[sample.rss_bytes for sample in samples[1:]],
        closed_note=closed_note(results),
    )


def _cpu_percent(first: ProcessSample, second: ProcessSample) -> float:
    return 100 * (second.cpu_s - first.cpu_s) / (second.at - first.at)


def _label(kind: str, clients: int, workers: int) -> str:
    label = f"{clients:,} {KIND_NAMES[kind]}"
    return label if workers == 1 else f"{label}, {workers} workers"


def _figures(kind: str, clients: int, workers: int, run: _Run, drain_s: float) -> list[Figure]:
    label = _label(kind, clients, workers)
    undelivered = delivery_note(run.windows, drain_s)
    all_delivered = run.failed == 0 and not undelivered
    connect_note = (f"{run.connected:,} of {clients:,} connected in {run.connect_s:.0f} s"
                    + (f"; first error: {run.first_error[:200]}" if run.failed else ""))
    target_ms = P99_TARGETS_MS.get((kind, clients))
    p99, p99_note = latency_summary([window.p99 for window in run.windows])
    per_client = Summary.of([run.idle_bytes_per_client / 1024])
    return [
        Figure(SECTION, f"{label}: change events received per second", "/s",
               Summary.of([window.received_per_s for window in run.windows]),
               note=f"{RATE * clients:,}/s keeps up; {connect_note}"),
        Figure(SECTION, f"{label}: share delivered", "%",
               Summary.of([100 * window.delivered_share for window in run.windows]), 1,
               "100 %" if target_ms else "", all_delivered if target_ms else None,
               join_notes(undelivered, run.closed_note)),
        Figure(SECTION, f"{label}: p99 delivery latency", "ms", p99, 1,
               f"≤ {target_ms:.0f} ms, all delivered" if target_ms else "",
               (all_delivered and p99.median <= target_ms) if target_ms else None, p99_note),
        Figure(SECTION, f"{label}: server CPU while writing", "%",
               Summary.of(run.cpu_percent), 0, note="100 % is one core"),
        Figure(SECTION, f"{label}: server resident memory", "MB",
               Summary.of([rss / 2**20 for rss in run.rss_bytes]), 0),
        Figure(SECTION, f"{label}: memory per idle client", "KB", per_client, 1,
               f"< {MAX_BYTES_PER_IDLE_CLIENT[kind] // 1024} KB",
               per_client.median * 1024 < MAX_BYTES_PER_IDLE_CLIENT[kind],
               "one sample: server RSS growth from one stream per worker to all connected and idle"),
    ]
