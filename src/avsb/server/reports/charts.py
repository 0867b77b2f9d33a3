"""Chart geometry shared by the SVG (HTML) and fpdf2 (PDF) drawings: what is drawn where,
in a unit box, so both formats show the same picture."""

from __future__ import annotations

import math
from dataclasses import dataclass

from avsb.server.reports.model import ExperimentSection, MetricSection


@dataclass(frozen=True, slots=True)
class Interval:
    """One variant's lift and interval; ``low``/``high`` None when open (one-sided)."""

    label: str
    estimate: float
    low: float | None
    high: float | None
    significant: bool


@dataclass(frozen=True, slots=True)
class ForestChart:
    """Lifts with intervals against a zero line, on a shared axis ``[lo, hi]``."""

    title: str
    lo: float
    hi: float
    items: tuple[Interval, ...]

    def x(self, value: float) -> float:
        """``value`` as a fraction in [0, 1] of the axis (clamped)."""
        return min(1.0, max(0.0, (value - self.lo) / (self.hi - self.lo)))


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    observed: float
    expected: float


@dataclass(frozen=True, slots=True)
class TrafficChart:
    """Observed against expected units per variant (the SRM picture)."""

    top: float
    bars: tuple[Bar, ...]

    def height(self, value: float) -> float:
        return 0.0 if self.top <= 0 else min(1.0, max(0.0, value / self.top))


def _finite(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def forest(metric: MetricSection) -> ForestChart | None:
    """The lift chart of a metric, or None when it has no comparison."""
    items = tuple(
        Interval(row.variant, row.lift, row.ci_low, row.ci_high, bool(row.significant))
        for row in metric.rows
        if row.lift is not None and math.isfinite(row.lift)
    )
    if not items:
        return None
    values = _finite([0.0, *(i.estimate for i in items), *(i.low for i in items)])
    values += _finite([i.high for i in items])
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or 0.01
    return ForestChart(f"{metric.name} ({metric.key})", lo - pad, hi + pad, items)


def traffic(experiment: ExperimentSection) -> TrafficChart | None:
    if not experiment.traffic:
        return None
    bars = tuple(Bar(t.variant, float(t.observed), t.expected) for t in experiment.traffic)
    top = max([0.0, *(b.observed for b in bars), *(b.expected for b in bars)])
    return TrafficChart(top, bars)
