"""Measured figures: median and spread over repeats, each with its target."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Summary:
    """Median, minimum and maximum of the repeats of one measurement."""

    median: float
    low: float
    high: float
    repeats: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("a summary needs at least one measured value")
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True)
class Figure:
    """One row of the results table."""

    section: str
    name: str
    unit: str
    summary: Summary | None = None
    decimals: int = 0
    target: str = ""
    # None when the figure has no target, or when the measurement cannot tell.
    met: bool | None = None
    # Why the figure is missing, or what else a reader needs to read it right.
    note: str = ""

    def value_text(self) -> str:
        if self.summary is None:
            return "not measured"
        return f"{self._number(self.summary.median)} {self.unit}".rstrip()

    def spread_text(self) -> str:
        if self.summary is None:
            return ""
        summary = self.summary
        return f"{self._number(summary.low)}–{self._number(summary.high)} (n={summary.repeats})"

    def met_text(self) -> str:
        if self.met is None:
            return "inconclusive" if self.target and self.summary is not None else ""
        return "met" if self.met else "NOT MET"

    def unjudged(self) -> Figure:
        """Return this figure without a verdict, for sizes its target was not set for."""
        if not self.target:
            return self
        return replace(self, target="", met=None, note=join_notes(
            self.note, f"target {self.target} applies to full sizes, not judged here"))

    def _number(self, value: float) -> str:
        return f"{value:,.{self.decimals}f}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the value below which `fraction` of the values lie (nearest rank)."""
    if not values:
        raise ValueError("a percentile needs at least one value")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def join_notes(*notes: str) -> str:
    """Join the non-empty notes of one figure."""
    return "; ".join(note for note in notes if note)
