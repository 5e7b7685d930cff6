"""Slow client: a burst of changes to many readers, without and with one client that stops reading.

The writer commits the burst at a set rate, one update per transaction.
The burst is cut into windows by commit time, and each window is one repeat.
The server runs with its default buffer and queue limits, so this shows what
a default `rowcast serve` does with such a burst.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.client_group import GroupSpec, collect_all, start_groups, stop_all
from benchmarks.database import TIMED_TABLE, BenchDatabase, TimedWriter
from benchmarks.results import Figure, Summary, join_notes
from benchmarks.server_process import ServeProcess
from benchmarks.windows import WindowStats, delivery_note, latency_summary, split_windows

SECTION = "4. Slow client"
METHOD = (
    "A `rowcast serve` process with default limits (--max-pending 10,000) and SSE "
    "readers in 2 client processes. The writer commits the burst at 1,000 changes a "
    "second, one update per transaction, with readers only and with one more "
    "client that subscribes, then never reads again, with a 4 KB receive buffer. "
    "The two alternate, each on a fresh server, 3 times at full sizes. Each burst's "
    "windows by commit time are the repeats, and the p99 change compares each window "
    "with the same window of the other run of its pair. Memory growth is the largest "
    "of the runs. Drops come from the server's WARNING log lines."
)
CLIENT_PROCESSES = 2
SETTLE_S = 1.0
SAMPLE_EVERY_S = 0.1
# An upper bound for writing the burst; the writer normally needs a few seconds.
BURST_LIMIT_S = 120.0
MAX_P99_CHANGE = 0.20
# cdc/hub.py logs this WARNING when it disconnects a subscriber whose queue is full.
DROPPED = re.compile(r"slow subscriber dropped subscriber=(\d+)")


@dataclass(frozen=True)
class SlowClientSizes:
    """Readers, changes in the burst, windows, and the time allowed for delivery."""

    readers: int
    burst: int
    windows: int
    # Seconds the readers may take after the last commit to receive everything.
    drain_s: float
    # Commits per second during the burst; None commits as fast as one connection can.
    rate: float | None = None
    # Number of times the runs without and with the stalled client alternate.
    pairs: int = 1


@dataclass(frozen=True)
class _Run:
    windows: list[WindowStats]
    idle_rss: int
    peak_rss: int
    burst_s: float
    readers_dropped: int
    stalled_dropped: bool
    # Changes of the burst that reached at least one reader before the clients stopped waiting.
    changes_delivered: int


class _PeakMemory:
    """Samples a process's resident memory on a thread and keeps the maximum."""

    def __init__(self, server: ServeProcess) -> None:
        self.peak = server.sample().rss_bytes
        self._server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.peak = max(self.peak, self._server.sample().rss_bytes)


def run_slow_client(
    database: BenchDatabase, sizes: SlowClientSizes, work_dir: Path
) -> list[Figure]:
    """Run the burst on fresh servers: readers only, then readers and one stalled client.

    The two alternate `sizes.pairs` times, so that the machine's load, which
    changes over seconds, weighs on both alike. Window i of one run is
    compared with window i of the other run of its pair.
    """
    runs_without: list[_Run] = []
    runs_with: list[_Run] = []
    for pair in range(1, sizes.pairs + 1):
        without = _measure(database, sizes, False, work_dir)
        print(f"slow client: pair {pair}/{sizes.pairs} without stalled client, "
              f"{without.readers_dropped} readers dropped", flush=True)
        stalled = _measure(database, sizes, True, work_dir)
        print(f"slow client: pair {pair}/{sizes.pairs} with stalled client, "
              f"{stalled.readers_dropped} readers dropped, "
              f"stalled client dropped: {stalled.stalled_dropped}", flush=True)
        runs_without.append(without)
        runs_with.append(stalled)
    return _figures(sizes, _combined(runs_without), _combined(runs_with))


def _combined(runs: list[_Run]) -> _Run:
    """Return the runs of one variant as one: all windows in order, the worst of the rest."""
    grown = max(runs, key=lambda run: run.peak_rss - run.idle_rss)
    return _Run(
        windows=[window for run in runs for window in run.windows],
        idle_rss=grown.idle_rss, peak_rss=grown.peak_rss,
        burst_s=max(run.burst_s for run in runs),
        readers_dropped=sum(run.readers_dropped for run in runs),
        stalled_dropped=all(run.stalled_dropped for run in runs),
        changes_delivered=min(run.changes_delivered for run in runs),
    )


def _measure(database: BenchDatabase, sizes: SlowClientSizes, stall: bool, work_dir: Path) -> _Run:
    variant = "with" if stall else "without"
    query = "table=" + ".".join(TIMED_TABLE)
    with ExitStack() as cleanup:
        server = ServeProcess(database.reader_url, ".".join(TIMED_TABLE),
                              work_dir / f"serve-slow-{variant}.log")
        cleanup.callback(server.stop)
        readers, _ = start_groups(GroupSpec(server.port, "sse", sizes.readers, query),
                                  CLIENT_PROCESSES)
        cleanup.callback(stop_all, readers)
        if stall:
            # Subscribes after every reader, so the hub numbers it readers + 1.
            stalled, _ = start_groups(
                GroupSpec(server.port, "sse", 1, query, stalled=True), 1)
            cleanup.callback(stop_all, stalled)
        writer = TimedWriter(database.server)
        cleanup.callback(writer.close)
        time.sleep(SETTLE_S)

        idle_rss = server.sample().rss_bytes
        memory = _PeakMemory(server)
        started = time.time()
        commits = writer.write(sizes.rate, BURST_LIMIT_S, sizes.burst)
        burst_s = time.time() - started
        results = collect_all(readers, commits, sizes.drain_s)
        peak_rss = memory.stop()
        dropped = {int(number) for number in DROPPED.findall(server.log_text())}

    stalled_number = sizes.readers + 1
    return _Run(
        windows=split_windows(results, commits, started, burst_s / sizes.windows, sizes.windows),
        idle_rss=idle_rss, peak_rss=peak_rss, burst_s=burst_s,
        readers_dropped=len(dropped - {stalled_number}),
        stalled_dropped=stall and stalled_number in dropped,
        changes_delivered=len({committed for result in results
                               for committed in result.committed_at}),
    )


def _figures(sizes: SlowClientSizes, without: _Run, stalled: _Run) -> list[Figure]:
    p99_without, without_note = latency_summary([window.p99 for window in without.windows])
    p99_with, with_note = latency_summary([window.p99 for window in stalled.windows])
    changes = [
        100 * (after.p99.ms - before.p99.ms) / before.p99.ms
        for before, after in zip(without.windows, stalled.windows) if before.p99.ms > 0
    ]
    change = Summary.of(changes) if changes else None
    change_met, change_note = _change_verdict(without, stalled, change)
    memory_met, memory_note = _memory_verdict(stalled)
    return [
        Figure(SECTION, "readers' p99 latency without the stalled client", "ms", p99_without, 0,
               note=join_notes(_reach_note(sizes, without),
                               delivery_note(without.windows, sizes.drain_s), without_note)),
        Figure(SECTION, "readers' p99 latency with the stalled client", "ms", p99_with, 0,
               note=join_notes(_reach_note(sizes, stalled),
                               delivery_note(stalled.windows, sizes.drain_s), with_note)),
        Figure(SECTION, "p99 change caused by the stalled client", "%", change, 1,
               f"< {100 * MAX_P99_CHANGE:.0f} %", change_met, change_note),
        Figure(SECTION, f"readers dropped as too slow, of {sizes.readers} in each run", "",
               Summary.of([without.readers_dropped]), 0,
               note=f"in all runs without the stalled client; with it: "
                    f"{stalled.readers_dropped}. Each burst of {sizes.burst:,} changes was "
                    f"committed in at most {without.burst_s:.1f} s and {stalled.burst_s:.1f} s"),
        Figure(SECTION, "server memory growth without the stalled client", "MB",
               Summary.of([(without.peak_rss - without.idle_rss) / 2**20]), 0,
               note="peak resident memory during the burst and the drain, minus before"),
        Figure(SECTION, "server memory growth with the stalled client", "MB",
               Summary.of([(stalled.peak_rss - stalled.idle_rss) / 2**20]), 0,
               "bounded: stalled client dropped", memory_met, memory_note),
    ]


def _change_verdict(
    without: _Run, stalled: _Run, change: Summary | None
) -> tuple[bool | None, str]:
    """Judge the p99 change; None when the two runs cannot be compared.

    Only a rise counts against the target: a stalled client cannot make the
    others faster, so a lower p99 with it is the machine's noise.
    """
    if change is None:
        return None, "no window of the run without the stalled client had deliveries"
    windows = without.windows + stalled.windows
    if without.readers_dropped or stalled.readers_dropped:
        return None, "inconclusive: readers were dropped as too slow"
    if any(window.p99.lower_bound for window in windows):
        return None, "inconclusive: the p99 values are lower bounds"
    if change.median < 0:
        return True, "lower with the stalled client, which only noise can cause"
    return change.median < 100 * MAX_P99_CHANGE, ""


def _memory_verdict(stalled: _Run) -> tuple[bool | None, str]:
    """Judge whether memory stays bounded; None when the queue limit was never reached."""
    if stalled.stalled_dropped:
        return True, "the server dropped the stalled client when it fell --max-pending changes behind"
    return None, ("inconclusive: the server did not drop the stalled client while the "
                  "benchmark watched, so it never fell --max-pending changes behind")


def _reach_note(sizes: SlowClientSizes, run: _Run) -> str:
    if run.changes_delivered == sizes.burst:
        return ""
    return (f"{run.changes_delivered:,} of the {sizes.burst:,} changes had reached at least "
            "one reader")
