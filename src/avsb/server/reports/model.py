"""The report model: one tree of plain values that every renderer draws, so the HTML,
Markdown, CSV, XLSX and PDF of a report cannot disagree.

Numbers stay numbers here; text renderers print them with ``number`` (6 significant digits)
and the XLSX keeps them as numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Kind = Literal["experiment", "project", "compare"]


def number(value: float | int | None) -> str:
    """How every text renderer prints a number: integers whole, others to 6 significant
    digits; a missing value is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return ""
    return f"{value:.6g}"


@dataclass(frozen=True, slots=True)
class VariantRow:
    """One metric x variant: its units and mean, and for a variant its comparison with the
    control (lift on the comparison's scale, interval, p-values)."""

    variant: str
    units: int
    mean: float | None
    lift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    adjusted_p_value: float | None = None
    chance_to_win: float | None = None
    significant: bool | None = None
    difference_type: str | None = None


@dataclass(frozen=True, slots=True)
class CategoryRow:
    """One variant x category of a categorical metric; the difference of shares against the
    control with its interval (None for the control)."""

    variant: str
    category: str
    count: int
    share: float
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


@dataclass(frozen=True, slots=True)
class CategoricalSection:
    categories: tuple[str, ...]
    rows: tuple[CategoryRow, ...]
    chi2: float | None
    df: int | None
    p_value: float | None


@dataclass(frozen=True, slots=True)
class MetricSection:
    key: str
    name: str
    role: str
    type: str
    lower_is_better: bool
    rows: tuple[VariantRow, ...]
    error: str | None = None
    categorical: CategoricalSection | None = None


@dataclass(frozen=True, slots=True)
class VariantDesign:
    key: str
    weight: float
    params: str  # JSON text


@dataclass(frozen=True, slots=True)
class TrafficRow:
    variant: str
    weight: float
    expected: float
    observed: int


@dataclass(frozen=True, slots=True)
class Decision:
    decision: str
    variant: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExperimentSection:
    """Everything one experiment contributes to a report."""

    experiment_id: str
    key: str
    name: str
    project_id: str
    project_name: str
    status: str
    hypothesis: str
    variants: tuple[VariantDesign, ...]
    design: tuple[tuple[str, str], ...]  # (label, value): traffic, audience, metrics by role
    plan: tuple[tuple[str, str], ...]  # (label, value): method, alpha, power, ...
    traffic: tuple[TrafficRow, ...]
    srm_p_value: float | None
    srm_detected: bool
    metrics: tuple[MetricSection, ...]
    decision: Decision
    computed_at: datetime
    snapshot_id: str | None


@dataclass(frozen=True, slots=True)
class Difference:
    """A design field whose values differ between the compared experiments."""

    field: str
    values: tuple[str, ...]  # one per experiment, in report order


@dataclass(frozen=True, slots=True)
class SharedResult:
    """One variant's comparison on a metric every compared experiment has."""

    metric: str
    experiment: str
    row: VariantRow


@dataclass(frozen=True, slots=True)
class ComparisonSection:
    differences: tuple[Difference, ...]
    shared_metrics: tuple[str, ...]  # metric keys present in every compared experiment
    results: tuple[SharedResult, ...] = ()  # the shared metrics' rows, metric by metric


SHARED_COLUMNS = ("metric", "experiment", "variant", "units", "mean", "lift", "ci_low",
                  "ci_high", "p_value", "significant")  # fmt: skip


def shared_cells(item: SharedResult) -> tuple[str, ...]:
    r = item.row
    return (item.metric, item.experiment, r.variant, number(r.units), number(r.mean),
            number(r.lift), number(r.ci_low), number(r.ci_high), number(r.p_value),
            number(r.significant))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    kind: Kind
    generated_at: datetime
    generated_by: str
    experiments: tuple[ExperimentSection, ...]
    comparison: ComparisonSection | None = None


METRIC_COLUMNS = (
    "experiment", "metric", "role", "type", "variant", "units", "mean", "lift",
    "difference_type", "ci_low", "ci_high", "p_value", "adjusted_p_value", "chance_to_win",
    "significant",
)  # fmt: skip
"""The columns of the per-metric table (CSV, XLSX, and the order HTML/MD/PDF show)."""


def metric_cells(
    experiment: ExperimentSection, metric: MetricSection, row: VariantRow
) -> tuple[str | float | int | bool | None, ...]:
    """One metric x variant row of ``METRIC_COLUMNS`` (numbers as numbers)."""
    return (
        experiment.key, metric.key, metric.role, metric.type, row.variant, row.units, row.mean,
        row.lift, row.difference_type, row.ci_low, row.ci_high, row.p_value,
        row.adjusted_p_value, row.chance_to_win, row.significant,
    )  # fmt: skip


CATEGORY_COLUMNS = (
    "experiment", "metric", "variant", "category", "count", "share", "difference",
    "ci_low", "ci_high", "p_value",
)  # fmt: skip


def category_cells(
    experiment: ExperimentSection, metric: MetricSection, row: CategoryRow
) -> tuple[str | float | int | None, ...]:
    return (
        experiment.key, metric.key, row.variant, row.category, row.count, row.share,
        row.difference, row.ci_low, row.ci_high, row.p_value,
    )  # fmt: skip


def text(value: str | float | int | bool | None) -> str:
    """A cell as text renderers print it."""
    if isinstance(value, str):
        return value
    return number(value)
