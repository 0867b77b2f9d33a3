"""From per-day sufficient statistics to the numbers of a results page.

The event store answers each metric with one row per (variant, first-exposure day) of the
``STAT_COLUMNS`` sums. Sums add up, so the totals are the sum over days and the cumulative
series a running sum: both come from the same query. Everything here is arithmetic on those
few rows and calls into ``avsb.stats``; nothing reads events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from avsb.server.analysis import STAT_COLUMNS, MetricDefinition, MetricType
from avsb.server.events import HOLDOUT_VARIANT
from avsb.server.events.store import ResultRow
from avsb.server.results import schemas
from avsb.server.tools.service import comparison_result
from avsb.stats import (
    AnalysisOptions,
    ArmEstimate,
    MetricAnalysis,
    MetricStatistic,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    StatsInputError,
    TestConfig,
    analyze_family,
    analyze_metric,
    estimate_arm,
)
from avsb.stats.analysis import Method
from avsb.stats.decision import StoppingKind
from avsb.stats.multiple_testing import CorrectionMethod
from avsb.stats.sequential import DEFAULT_TUNING_PARAMETER

Vector = npt.NDArray[np.float64]
Role = Literal["primary", "secondary", "guardrail"]
N, SUM, SS, XS, XSS, XY, NUM, NUMSS, DEN, DENSS, ND = range(len(STAT_COLUMNS))
_EPOCH = date(1970, 1, 1)
_RATIO_TYPES = frozenset({MetricType.RATIO, MetricType.MEAN})


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """An experiment's analysis settings, as its current plan states them."""

    method: Method = "frequentist"
    alpha: float = 0.05
    two_sided: bool = True
    cuped: bool = True
    correction: CorrectionMethod = "holm"
    stopping_rule: StoppingKind = "fixed_horizon"
    planned_per_variant: int | None = None

    @property
    def tuning_parameter(self) -> float:
        """Sequential N*: the planned units of one comparison (two arms), else the default."""
        if self.planned_per_variant is None:
            return float(DEFAULT_TUNING_PARAMETER)
        return float(2 * self.planned_per_variant)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    id: str
    key: str
    name: str
    role: Role
    definition: MetricDefinition


@dataclass(frozen=True, slots=True)
class DailyStats:
    """Per variant, a (days x STAT_COLUMNS) matrix of sums by first-exposure day."""

    days: tuple[int, ...]
    cells: Mapping[str, Vector]

    @classmethod
    def from_rows(cls, rows: Sequence[ResultRow]) -> DailyStats:
        """Rows of (variant, day, *sums); NULL sums (non-ratio metrics) read as 0."""
        days = tuple(sorted({_int(row[1]) for row in rows}))
        index = {day: i for i, day in enumerate(days)}
        cells: dict[str, Vector] = {}
        for row in rows:
            matrix = cells.setdefault(str(row[0]), np.zeros((len(days), len(row) - 2)))
            matrix[index[_int(row[1])]] = [0.0 if v is None else _float(v) for v in row[2:]]
        return cls(days, cells)

    def total(self, variant: str) -> Vector:
        found = self.cells.get(variant)
        return np.zeros(len(STAT_COLUMNS)) if found is None else found.sum(axis=0)

    def cumulative(self, variant: str) -> npt.NDArray[np.float64]:
        found = self.cells.get(variant)
        if found is None:
            return np.zeros((len(self.days), len(STAT_COLUMNS)))
        return np.cumsum(found, axis=0)

    def units(self, variant: str) -> dict[int, int]:
        """Analysed units by day (the SRM diagnosis)."""
        found = self.cells.get(variant)
        if found is None:
            return {}
        return {day: round(found[i, N]) for i, day in enumerate(self.days)}


def _int(value: object) -> int:
    assert isinstance(value, int | float | str)
    return int(value)


def _float(value: object) -> float:
    assert isinstance(value, int | float | str)
    return float(value)


def day_of(day: int) -> date:
    return _EPOCH + timedelta(days=day)


def stats_kind(metric: MetricDefinition) -> Literal["binary", "continuous", "ratio"]:
    if metric.type is MetricType.BINARY:
        return "binary"
    return "ratio" if metric.type in _RATIO_TYPES else "continuous"


def statistic(metric: MetricDefinition, cuped: bool, v: Vector) -> MetricStatistic:
    """The sufficient statistic of one arm that the metric type (and CUPED) calls for."""
    n = round(float(v[N]))
    kind = stats_kind(metric)
    if kind == "ratio":
        return RatioStatistic(n, v[NUM], v[NUMSS], v[DEN], v[DENSS], v[ND])
    squares = v[SUM] if kind == "binary" else v[SS]
    if cuped:
        return RegressionAdjustedStatistic(n, v[SUM], squares, v[XS], v[XSS], v[XY])
    if kind == "binary":
        return ProportionStatistic(n, v[SUM])
    return SampleMeanStatistic(n, v[SUM], squares)


def options_for(
    spec: MetricSpec, settings: AnalysisSettings, weights: Sequence[float]
) -> AnalysisOptions:
    """Guardrails are tested two-sided: a one-sided 'variant is better' test cannot show harm."""
    metric = spec.definition
    two_sided = True if spec.role == "guardrail" else settings.two_sided
    return AnalysisOptions(
        metric_type=stats_kind(metric),
        method=settings.method,
        test=TestConfig(settings.alpha, two_sided, metric.lower_is_better, "relative"),
        sequential_tuning_parameter=settings.tuning_parameter,
        cuped=settings.cuped and stats_kind(metric) != "ratio",
        srm_weights=tuple(weights),
    )


@dataclass(frozen=True, slots=True)
class Readout:
    """One metric's arms (control first), its analysis or why there is none."""

    spec: MetricSpec
    arms: tuple[Vector, ...]
    options: AnalysisOptions
    analysis: MetricAnalysis | None
    error: schemas.MetricError | None
    family: str | None = None


def _cells(
    spec: MetricSpec, options: AnalysisOptions, arms: Sequence[Vector]
) -> list[list[MetricStatistic]]:
    return [[statistic(spec.definition, options.cuped, arm) for arm in arms]]


def prepare(spec: MetricSpec, arms: Sequence[Vector], options: AnalysisOptions) -> Readout:
    """Analyse one metric alone (uncorrected); an impossible input becomes its error."""
    smallest = min(round(float(arm[N])) for arm in arms)
    if smallest < 2:
        error = schemas.MetricError(
            code="insufficient_data",
            message=f"Every variant needs at least 2 analysed units (the smallest has {smallest}).",
        )
        return Readout(spec, tuple(arms), options, None, error)
    try:
        analysis = analyze_metric(_cells(spec, options, arms), options)
    except StatsInputError as exc:
        relative = options.test.difference_type == "relative"
        if exc.field == "difference_type" and relative:  # control mean 0: report absolute
            return prepare(
                spec, arms, replace(options, test=replace(options.test, difference_type="absolute"))
            )
        error = schemas.MetricError(code="not_analysable", message=f"{exc.field}: {exc.message}")
        return Readout(spec, tuple(arms), options, None, error)
    return Readout(spec, tuple(arms), options, analysis, None)


def correct_family(
    readouts: Sequence[Readout], family: str, settings: AnalysisSettings
) -> list[Readout]:
    """The analysable readouts of one family, corrected together (metrics x variants)."""
    members = [r for r in readouts if r.analysis is not None]
    if settings.correction == "none" or not members:
        return list(readouts)
    inputs = [(_cells(r.spec, r.options, r.arms), r.options) for r in members]
    corrected = iter(analyze_family(inputs, settings.correction, settings.alpha))
    return [
        replace(r, analysis=next(corrected), family=family) if r.analysis is not None else r
        for r in readouts
    ]


def _plain_variance(spec: MetricSpec, arm: Vector) -> float:
    return estimate_arm(statistic(spec.definition, False, arm)).variance


def variant_value(
    spec: MetricSpec, key: str, arm: Vector, estimate: ArmEstimate | None
) -> schemas.VariantValue:
    n = round(float(arm[N]))
    if stats_kind(spec.definition) == "ratio":
        total, mean = float(arm[NUM]), (float(arm[NUM] / arm[DEN]) if arm[DEN] else None)
    else:
        total, mean = float(arm[SUM]), (float(arm[SUM]) / n if n else None)
    return schemas.VariantValue(
        key=key,
        n=n,
        sum=total,
        mean=mean,
        adjusted_mean=None if estimate is None else estimate.mean,
        standard_error=None if estimate is None else math.sqrt(max(estimate.variance, 0.0)),
    )


def _cuped(readout: Readout) -> schemas.CupedOut:
    analysis = readout.analysis
    if not readout.options.cuped or analysis is None:
        return schemas.CupedOut(applied=False, variance_reduction=None)
    plain = sum(_plain_variance(readout.spec, arm) for arm in readout.arms)
    adjusted = sum(arm.variance for arm in analysis.arms)
    reduction = 1.0 - adjusted / plain if plain > 0 else None
    return schemas.CupedOut(applied=True, variance_reduction=reduction)


def metric_out(readout: Readout, keys: Sequence[str]) -> schemas.MetricResultOut:
    spec, analysis = readout.spec, readout.analysis
    estimates = analysis.arms if analysis is not None else (None,) * len(keys)
    correction = analysis.correction if analysis is not None else None
    return schemas.MetricResultOut(
        metric_id=spec.id,
        key=spec.key,
        name=spec.name,
        role=spec.role,
        type=spec.definition.type.value,
        lower_is_better=spec.definition.lower_is_better,
        cuped=_cuped(readout),
        variants=[
            variant_value(spec, key, arm, est)
            for key, arm, est in zip(keys, readout.arms, estimates, strict=True)
        ],
        comparisons=[]
        if analysis is None
        else [comparison_result(list(keys), c) for c in analysis.comparisons],
        correction=None
        if correction is None or readout.family is None
        else schemas.FamilyCorrection(
            method=correction.method,
            family_size=correction.family_size,
            interval_alpha=correction.interval_alpha,
            family=readout.family,
        ),
        error=readout.error,
    )


def holdout_out(readout: Readout, stats: DailyStats, keys: Sequence[str]) -> schemas.HoldoutMetric:
    """The project holdout against the pooled treated arms (every variant but the control)."""
    spec = readout.spec
    holdout = stats.total(HOLDOUT_VARIANT)
    treated = sum((stats.total(key) for key in keys[1:]), start=np.zeros(len(STAT_COLUMNS)))
    options = replace(readout.options, srm_weights=None)
    pair = prepare(spec, (holdout, treated), options)
    estimates = pair.analysis.arms if pair.analysis is not None else (None, None)
    comparison = (
        comparison_result(["holdout", "treated"], pair.analysis.comparisons[0])
        if pair.analysis is not None
        else None
    )
    return schemas.HoldoutMetric(
        metric_id=spec.id,
        key=spec.key,
        holdout=variant_value(spec, "holdout", holdout, estimates[0]),
        treated=variant_value(spec, "treated", treated, estimates[1]),
        comparison=comparison,
        error=pair.error,
    )


def series(
    spec: MetricSpec, options: AnalysisOptions, stats: DailyStats, keys: Sequence[str]
) -> list[schemas.TimePoint]:
    """The cumulative estimate and interval at the end of each first-exposure day."""
    cumulative = [stats.cumulative(key) for key in keys]
    points = []
    for i, day in enumerate(stats.days):
        arms = [matrix[i] for matrix in cumulative]
        point = prepare(spec, arms, options)
        estimates = point.analysis.arms if point.analysis is not None else (None,) * len(keys)
        points.append(
            schemas.TimePoint(
                date=day_of(day),
                variants=[
                    variant_value(spec, key, arm, est)
                    for key, arm, est in zip(keys, arms, estimates, strict=True)
                ],
                comparisons=[]
                if point.analysis is None
                else [comparison_result(list(keys), c) for c in point.analysis.comparisons],
            )
        )
    return points
