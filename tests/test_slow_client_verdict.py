"""The slow-client benchmark judges only a rise of the others' p99 against its target."""

from __future__ import annotations

import dataclasses

from benchmarks.results import Summary
from benchmarks.slow_client import _change_verdict, _Run
from benchmarks.windows import Percentile, WindowStats


def run(p99_ms: float) -> _Run:
    percentile = Percentile(p99_ms, lower_bound=False)
    window = WindowStats(commits=10, expected=10, delivered=10, p50=percentile, p99=percentile,
                         max=percentile, received_per_s=10.0)
    return _Run(windows=[window], idle_rss=0, peak_rss=0, burst_s=1.0, readers_dropped=0,
                stalled_dropped=True, changes_delivered=10)


def change(percent: float) -> Summary:
    return Summary.of([percent])


def test_small_rise_meets_target() -> None:
    assert _change_verdict(run(10), run(11), change(10.0)) == (True, "")


def test_large_rise_misses_target() -> None:
    assert _change_verdict(run(10), run(13), change(30.0)) == (False, "")


def test_fall_is_noise() -> None:
    met, note = _change_verdict(run(10), run(7), change(-30.0))
    assert met is True
    assert "noise" in note


def test_dropped_readers_make_it_inconclusive() -> None:
    dropped = dataclasses.replace(run(10), readers_dropped=3)
    assert _change_verdict(dropped, run(10), change(0.0))[0] is None
