"""Latency: from a commit to the arrival of its change event at an SSE and a WebSocket client.

The writer commits single-row updates at a fixed rate for one continuous run.
The run is cut into equal windows by commit time, and each window is one
repeat. Latencies that grow from window to window show a server falling behind.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.client_group import Deliveries, GroupSpec, collect_all, start_groups, stop_all
from benchmarks.database import TIMED_TABLE, BenchDatabase, TimedWriter
from benchmarks.results import Figure, Summary, join_notes
from benchmarks.server_process import ServeProcess
from benchmarks.windows import (
    WindowStats,
    closed_note,
    delivery_note,
    latency_summary,
    split_windows,
)

SECTION = "2. Latency"
METHOD = (
    "One `rowcast serve` process, one SSE and one WebSocket client, each in its own "
    "process. A writer commits single-row updates of robots.task_timed (robots.task "
    "plus a Sent_At DOUBLE) at a fixed rate; latency runs from the writer's time.time() "
    "right after the autocommit UPDATE returns to the client's time.time() when the "
    "bytes of that change event were read. Each rate is one continuous run; its "
    "windows by commit time are the repeats."
)
RATES = (500, 2000, 4000)
# p99 targets in milliseconds, by writes per second. They started at 10 and
# 50 ms. Runs with rowcast's own row decoder reached about 1 and 9 ms, so the
# targets were raised, with room left for this shared machine's noise.
P99_TARGETS_MS = {2000: 5.0, 4000: 25.0}
# Seconds the clients may take after the last commit to receive everything.
DRAIN_S = 15.0


@dataclass(frozen=True)
class LatencySizes:
    """Length of each rate's run and the number of windows it is cut into."""

    run_s: float
    windows: int


def run_latency(database: BenchDatabase, sizes: LatencySizes, work_dir: Path) -> list[Figure]:
    """Run the writer at each rate with one SSE and one WebSocket client connected."""
    figures: list[Figure] = []
    with ExitStack() as cleanup:
        server = ServeProcess(database.reader_url, ".".join(TIMED_TABLE),
                              work_dir / "serve-latency.log")
        cleanup.callback(server.stop)
        writer = TimedWriter(database.server)
        cleanup.callback(writer.close)
        for rate in RATES:
            figures.extend(_measure_rate(server.port, writer, rate, sizes))
    return figures


def _measure_rate(
    port: int, writer: TimedWriter, rate: int, sizes: LatencySizes
) -> list[Figure]:
    """Connect new clients, so that a client the server dropped at a lower rate is back."""
    query = "table=" + ".".join(TIMED_TABLE)
    with ExitStack() as cleanup:
        # One process per client, so that neither client's parsing delays the other.
        sse, _ = start_groups(GroupSpec(port, "sse", 1, query), 1)
        cleanup.callback(stop_all, sse)
        ws, _ = start_groups(GroupSpec(port, "ws", 1, query), 1)
        cleanup.callback(stop_all, ws)

        started = time.time()
        commits = writer.write(rate, sizes.run_s, int(rate * sizes.run_s))
        by_client = {
            client: collect_all(group, commits, DRAIN_S)
            for client, group in (("SSE", sse), ("WebSocket", ws))
        }
    print(f"latency: {rate:,}/s done, {len(commits):,} commits", flush=True)
    window_s = sizes.run_s / sizes.windows
    return _rate_figures(rate, commits, started, window_s, sizes.windows, by_client)


def _rate_figures(
    rate: int, commits: dict[float, float], started: float, window_s: float, count: int,
    by_client: dict[str, list[Deliveries]],
) -> list[Figure]:
    figures: list[Figure] = []
    target_ms = P99_TARGETS_MS.get(rate)
    for client, results in by_client.items():
        windows = split_windows(results, commits, started, window_s, count)
        if not figures:
            achieved = Summary.of([window.commits / window_s for window in windows])
            figures.append(Figure(SECTION, f"{rate:,}/s: commits per second reached", "/s",
                                  achieved))
        undelivered = join_notes(delivery_note(windows, DRAIN_S), closed_note(results))
        p50, p50_note = latency_summary([window.p50 for window in windows])
        p99, p99_note = latency_summary([window.p99 for window in windows])
        longest, max_note = latency_summary([window.max for window in windows])
        figures += [
            Figure(SECTION, f"{rate:,}/s: {client} p50", "ms", p50, 1,
                   note=join_notes(_series(windows), p50_note)),
            Figure(SECTION, f"{rate:,}/s: {client} p99", "ms", p99, 1,
                   f"≤ {target_ms:.0f} ms" if target_ms else "",
                   None if target_ms is None else p99.median <= target_ms and not undelivered,
                   join_notes(undelivered, p99_note)),
            Figure(SECTION, f"{rate:,}/s: {client} max", "ms", longest, 1, note=max_note),
        ]
    return figures


def _series(windows: list[WindowStats]) -> str:
    """List the p50 of each window in order: rising values mean the server falls behind."""
    return "by window: " + ", ".join(f"{window.p50.ms:,.0f}" for window in windows) + " ms"
