"""Split one continuous run into equal time windows, each a repeat of the measurement.

A change that a client had not received when it stopped waiting still counts.
Its latency is known to exceed the wait, so percentiles use that lower bound
and are marked as lower bounds, instead of leaving slow deliveries out.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from benchmarks.client_group import Deliveries
from benchmarks.results import Summary


@dataclass(frozen=True)
class Percentile:
    """A latency percentile in milliseconds; a lower bound when undelivered changes reach it."""

    ms: float
    lower_bound: bool


@dataclass(frozen=True)
class WindowStats:
    """Deliveries of the changes committed in one window, to every reader."""

    commits: int
    expected: int
    delivered: int
    p50: Percentile
    p99: Percentile
    max: Percentile
    # Deliveries received during the window's time span, per second, whatever
    # their commit time: the rate at which the server sent change events.
    received_per_s: float

    @property
    def delivered_share(self) -> float:
        return self.delivered / self.expected if self.expected else 1.0


def latency_summary(percentiles: list[Percentile]) -> tuple[Summary, str]:
    """Summarise one percentile over the windows, with a note when some are lower bounds."""
    summary = Summary.of([percentile.ms for percentile in percentiles])
    bounded = sum(percentile.lower_bound for percentile in percentiles)
    if not bounded:
        return summary, ""
    return summary, (f"a lower bound in {bounded} of {len(percentiles)} windows, because "
                     "changes were still undelivered when the clients stopped waiting")


def delivery_note(windows: list[WindowStats], drain_s: float) -> str:
    """Say how many deliveries arrived, when some did not."""
    delivered = sum(window.delivered for window in windows)
    expected = sum(window.expected for window in windows)
    if delivered == expected:
        return ""
    return (f"{delivered:,} of {expected:,} deliveries arrived within {drain_s:.0f} s "
            "of the last commit")


def closed_note(results: list[Deliveries]) -> str:
    """Say how many clients the server disconnected, and why, when it disconnected any."""
    closed = sum(result.closed_by_server for result in results)
    if not closed:
        return ""
    clients = sum(result.readers for result in results)
    reason = next(result.close_reason for result in results if result.close_reason)
    return f"the server disconnected {closed:,} of {clients:,} clients: {reason}"


# A latency in seconds, the number of deliveries that had it, and whether it is a lower bound.
_Point = tuple[float, int, bool]


def split_windows(
    results: list[Deliveries], commits: dict[float, float],
    started: float, window_s: float, windows: int,
) -> list[WindowStats]:
    """Group commits and their deliveries by the window of the commit time."""
    def window_of(moment: float) -> int:
        # A commit that returned just after the last window's end still belongs to it.
        return min(max(int((moment - started) / window_s), 0), windows - 1)

    commit_counts = [0] * windows
    for committed in commits.values():
        commit_counts[window_of(committed)] += 1
    points: list[list[_Point]] = [[] for _ in range(windows)]
    received = [0] * windows
    run_end = started + window_s * windows
    for result in results:
        for committed, latency in zip(result.committed_at, result.latencies_s):
            points[window_of(committed)].append((latency, 1, False))
            if started <= committed + latency < run_end:
                received[window_of(committed + latency)] += 1
        for committed, missing in _missing(result, commits).items():
            points[window_of(committed)].append((result.stopped_at - committed, missing, True))

    readers = sum(result.readers for result in results)
    return [
        WindowStats(
            commits=commit_counts[index],
            expected=commit_counts[index] * readers,
            delivered=sum(weight for _, weight, censored in points[index] if not censored),
            p50=_percentile(points[index], 0.50),
            p99=_percentile(points[index], 0.99),
            max=_percentile(points[index], 1.0),
            received_per_s=received[index] / window_s,
        )
        for index in range(windows)
    ]


def _missing(result: Deliveries, commits: dict[float, float]) -> dict[float, int]:
    """Return, by commit time, how many of the result's readers did not receive that change."""
    delivered = Counter(result.committed_at)
    return {
        committed: result.readers - delivered[committed]
        for committed in commits.values()
        if delivered[committed] < result.readers
    }


def _percentile(points: list[_Point], fraction: float) -> Percentile:
    """Return the nearest-rank percentile of weighted points."""
    if not points:
        return Percentile(math.nan, False)
    ordered = sorted(points)
    rank = max(1, math.ceil(fraction * sum(weight for _, weight, _ in ordered)))
    running = 0
    # Undelivered changes enter with their lower bound. Any of them at or
    # below the rank could truly lie above it, so the result is a lower bound too.
    bounded = False
    for latency, weight, censored in ordered:
        running += weight
        bounded = bounded or censored
        if running >= rank:
            return Percentile(latency * 1000, bounded)
    raise AssertionError("the rank lies within the total weight")
