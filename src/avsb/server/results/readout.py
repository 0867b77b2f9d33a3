"""From per-day sufficient statistics to the numbers of a results page.

The event store answers each metric with one row per (variant, first-exposure day, stratum)
of the ``STAT_COLUMNS`` sums. Sums add up, so the totals are the sum over days and the
cumulative series a running sum: both come from the same query. Everything here is
arithmetic on those few rows and calls into ``avsb.stats``; nothing reads events.

Adjustments, decided per comparison from the sums themselves:

- post-stratification when the units have strata: each stratum with at least
  ``MIN_STRATUM_UNITS`` units in every arm is a cell, the others are pooled into one cell
  (or into the largest stratum when that pool is still too small);
- CUPED only with a covariate every arm has: an arm without covered units while another has
  some, or coverage shares that differ between arms (the SRM chi-square on covered units
  against arm sizes, p < 0.001), leaves the comparison unadjusted, with the reason.
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
    poststratify,
    srm_test,
)
from avsb.stats.analysis import Cells, Method
from avsb.stats.decision import StoppingKind
from avsb.stats.multiple_testing import CorrectionMethod
from avsb.stats.sequential import DEFAULT_TUNING_PARAMETER
from avsb.stats.statistics import RatioAdjustedStatistic

Vector = npt.NDArray[np.float64]
Role = Literal["primary", "secondary", "guardrail"]
Matrix = npt.NDArray[np.float64]
(N, SUM, SS, XS, XSS, XY, NUM, NUMSS, DEN, DENSS, ND,
 COVERED, XD, XDSS, XXD, NXD, DXS, DXD) = range(len(STAT_COLUMNS))  # fmt: skip
WIDTH = len(STAT_COLUMNS)
MIN_STRATUM_UNITS = 10
"""Units a stratum needs in every arm to be a cell of its own (a variance per cell)."""
COVERAGE_THRESHOLD = 0.001
Covariate = Literal["ingested", "pre_period"]
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
    power: float = 0.8
    mde_pct: float | None = None

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
    """Per variant, a (days x strata x STAT_COLUMNS) array of sums by first-exposure day and
    stratum (one stratum, None, when the query was not split by stratum)."""

    days: tuple[int, ...]
    strata: tuple[str | None, ...]
    cells: Mapping[str, Matrix]
    covariate: Covariate | None = None  # the CUPED covariate the query used

    @classmethod
    def from_rows(
        cls, rows: Sequence[ResultRow], by_stratum: bool, covariate: Covariate | None = None
    ) -> DailyStats:
        """Rows of (variant, day, [stratum], *sums); NULL sums read as 0."""
        first = 3 if by_stratum else 2
        days = tuple(sorted({_int(row[1]) for row in rows}))
        strata = tuple(
            sorted({_stratum(row[2]) for row in rows} if by_stratum else {None}, key=str)
        )
        day_index = {day: i for i, day in enumerate(days)}
        stratum_index = {key: i for i, key in enumerate(strata)}
        cells: dict[str, Matrix] = {}
        for row in rows:
            array = cells.setdefault(str(row[0]), np.zeros((len(days), len(strata), WIDTH)))
            where = stratum_index[_stratum(row[2])] if by_stratum else 0
            array[day_index[_int(row[1])], where] = [
                0.0 if v is None else _float(v) for v in row[first:]
            ]
        return cls(days, strata, cells, covariate)

    def _found(self, variant: str) -> Matrix:
        found = self.cells.get(variant)
        return np.zeros((len(self.days), len(self.strata), WIDTH)) if found is None else found

    def total(self, variant: str) -> Vector:
        """All the variant's sums."""
        return np.asarray(self._found(variant).sum(axis=(0, 1)), dtype=np.float64)

    def by_stratum(self, variant: str) -> Matrix:
        """(strata x STAT_COLUMNS): the variant's sums per stratum."""
        return np.asarray(self._found(variant).sum(axis=0), dtype=np.float64)

    def cumulative(self, variant: str) -> Matrix:
        """(days x strata x STAT_COLUMNS): running sums up to the end of each day."""
        return np.cumsum(self._found(variant), axis=0)

    def units(self, variant: str) -> dict[int, int]:
        """Analysed units by day (the SRM diagnosis)."""
        if variant not in self.cells:
            return {}
        found = self.cells[variant].sum(axis=1)
        return {day: round(found[i, N]) for i, day in enumerate(self.days)}


def _stratum(value: object) -> str | None:
    return None if value is None else str(value)


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
    if kind == "ratio" and cuped:
        return RatioAdjustedStatistic(
            n, v[NUM], v[NUMSS], v[DEN], v[DENSS], v[ND],
            v[XS], v[XSS], v[XD], v[XDSS], v[XXD], v[XY], v[NXD], v[DXS], v[DXD],
        )  # fmt: skip
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
        cuped=settings.cuped,  # asked for; each comparison checks the covariate (_adjusted)
        srm_weights=tuple(weights),
    )


@dataclass(frozen=True, slots=True)
class Adjustment:
    """How one comparison is adjusted: its cells[stratum][arm] of sums, whether CUPED is used
    (and with which covariate, or why not), and the strata pooled into each cell."""

    cells: tuple[tuple[Vector, ...], ...]
    cuped: bool
    covariate: Covariate | None
    cuped_reason: str | None
    stratified: bool
    strata_reason: str | None


def _pool_strata(arms: Sequence[Matrix]) -> tuple[list[list[int]], str | None]:
    """Groups of stratum indices, one per cell: every stratum with MIN_STRATUM_UNITS units
    in every arm alone, the rest pooled (into the largest stratum if still too small)."""
    strata = arms[0].shape[0]
    if strata <= 1:
        return [list(range(strata))], "the units have no strata (none ingested, or one only)"
    counts = np.stack([arm[:, N] for arm in arms])  # arms x strata
    alone = [s for s in range(strata) if counts[:, s].min() >= MIN_STRATUM_UNITS]
    rest = [s for s in range(strata) if s not in alone]
    groups = [[s] for s in alone]
    if rest and counts[:, rest].sum(axis=1).min() >= MIN_STRATUM_UNITS:
        groups.append(rest)
    elif rest and groups:
        largest = max(range(len(groups)), key=lambda g: counts[:, groups[g]].sum())
        groups[largest] += rest
    elif rest:
        groups.append(rest)
    if len(groups) < 2:
        return [list(range(strata))], (
            f"fewer than 2 strata have {MIN_STRATUM_UNITS} units in every arm"
        )
    return groups, None


def _covariate_reason(
    spec: MetricSpec, cells: Sequence[Sequence[Vector]], arms: Sequence[Vector]
) -> str | None:
    """Why the comparison cannot be CUPED-adjusted (None: it can)."""
    n = [float(arm[N]) for arm in arms]
    covered = [float(arm[COVERED]) for arm in arms]
    if max(covered) == 0:
        return "no unit has the covariate"
    if min(covered) == 0:
        return "some arm has no unit with the covariate: only covariates every arm has are used"
    coverage = srm_test(covered, n, COVERAGE_THRESHOLD)
    if coverage.srm_detected:
        shares = ", ".join(f"{c / k:.1%}" for c, k in zip(covered, n, strict=True))
        return (
            f"the share of units with the covariate differs between arms ({shares}; "
            f"p = {coverage.p_value:.2g}): only covariates every arm has are used"
        )
    if stats_kind(spec.definition) == "ratio" and min(c[XD] for row in cells for c in row) <= 0:
        return "some arm has no pre-period denominator"
    return None


def adjustment(
    spec: MetricSpec, arms: Sequence[Matrix], options: AnalysisOptions, covariate: Covariate | None
) -> Adjustment:
    """The cells and CUPED decision of one comparison of ``arms`` (each strata x sums)."""
    groups, strata_reason = _pool_strata(arms)
    cells = tuple(tuple(arm[group].sum(axis=0) for arm in arms) for group in groups)
    totals = [arm.sum(axis=0) for arm in arms]
    cuped_reason = None
    if options.cuped:
        cuped_reason = (
            "no covariate for this metric"
            if covariate is None
            else _covariate_reason(spec, cells, totals)
        )
    cuped = options.cuped and cuped_reason is None
    return Adjustment(
        cells=cells,
        cuped=cuped,
        covariate=covariate if cuped else None,
        cuped_reason=cuped_reason,
        stratified=len(cells) > 1,
        strata_reason=strata_reason,
    )


@dataclass(frozen=True, slots=True)
class Readout:
    """One metric's arms (control first), its analysis or why there is none."""

    spec: MetricSpec
    arms: tuple[Vector, ...]  # totals
    options: AnalysisOptions  # as analysed: cuped only when the covariate allowed it
    analysis: MetricAnalysis | None
    error: schemas.MetricError | None
    adjustment: Adjustment
    family: str | None = None
    requested_cuped: bool = False


def _cells(spec: MetricSpec, options: AnalysisOptions, adjusted: Adjustment) -> Cells:
    return [[statistic(spec.definition, options.cuped, c) for c in row] for row in adjusted.cells]


def prepare(
    spec: MetricSpec,
    arms: Sequence[Matrix],
    options: AnalysisOptions,
    covariate: Covariate | None = None,
) -> Readout:
    """Analyse one metric alone (uncorrected); an impossible input becomes its error.
    ``arms`` are (strata x sums) per arm, control first."""
    adjusted = adjustment(spec, arms, options, covariate)
    used = replace(options, cuped=adjusted.cuped)
    totals = tuple(arm.sum(axis=0) for arm in arms)
    smallest = min(round(float(arm[N])) for arm in totals)
    if smallest < 2:
        error = schemas.MetricError(
            code="insufficient_data",
            message=f"Every variant needs at least 2 analysed units (the smallest has {smallest}).",
        )
        return Readout(spec, totals, used, None, error, adjusted, requested_cuped=options.cuped)
    try:
        analysis = analyze_metric(_cells(spec, used, adjusted), used)
    except StatsInputError as exc:
        relative = options.test.difference_type == "relative"
        if exc.field == "difference_type" and relative:  # control mean 0: report absolute
            absolute = replace(options, test=replace(options.test, difference_type="absolute"))
            return prepare(spec, arms, absolute, covariate)
        error = schemas.MetricError(code="not_analysable", message=f"{exc.field}: {exc.message}")
        return Readout(spec, totals, used, None, error, adjusted, requested_cuped=options.cuped)
    return Readout(spec, totals, used, analysis, None, adjusted, requested_cuped=options.cuped)


def correct_family(
    readouts: Sequence[Readout], family: str, settings: AnalysisSettings
) -> list[Readout]:
    """The analysable readouts of one family, corrected together (metrics x variants)."""
    members = [r for r in readouts if r.analysis is not None]
    if settings.correction == "none" or not members:
        return list(readouts)
    inputs = [(_cells(r.spec, r.options, r.adjustment), r.options) for r in members]
    corrected = iter(analyze_family(inputs, settings.correction, settings.alpha))
    return [
        replace(r, analysis=next(corrected), family=family) if r.analysis is not None else r
        for r in readouts
    ]


def _plain_variance(spec: MetricSpec, arm: Vector) -> float:
    return estimate_arm(statistic(spec.definition, False, arm)).variance


def _stratified_variance(readout: Readout) -> float | None:
    """Sum over arms of var(post-stratified, unadjusted arm mean); None if not computable."""
    try:
        rows = [
            [estimate_arm(statistic(readout.spec.definition, False, c)) for c in row]
            for row in readout.adjustment.cells
        ]
        return sum(arm.variance for arm in poststratify(rows))
    except StatsInputError:
        return None


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


def _reduction(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or not before > 0:
        return None
    return 1.0 - after / before


def adjustments_out(
    readout: Readout,
) -> tuple[schemas.CupedOut, schemas.StratificationOut, schemas.Adjustment]:
    """What was adjusted and by how much: CUPED (given the strata), post-stratification."""
    analysis, adjusted = readout.analysis, readout.adjustment
    stratified = adjusted.stratified and analysis is not None
    cuped = adjusted.cuped and analysis is not None
    plain: float | None = None
    by_strata: float | None = None
    if analysis is not None:
        plain = sum(_plain_variance(readout.spec, arm) for arm in readout.arms)
        by_strata = _stratified_variance(readout) if stratified else plain
    final = sum(arm.variance for arm in analysis.arms) if analysis is not None else None
    cuped_reason = None
    if readout.requested_cuped and not adjusted.cuped:
        cuped_reason = adjusted.cuped_reason
    cuped_out = schemas.CupedOut(
        applied=cuped,
        variance_reduction=_reduction(by_strata, final) if cuped else None,
        covariate=adjusted.covariate if cuped else None,
        reason=cuped_reason,
    )
    strata_out = schemas.StratificationOut(
        applied=stratified,
        cells=len(adjusted.cells) if stratified else 1,
        variance_reduction=_reduction(plain, by_strata) if stratified else None,
        reason=None if stratified else adjusted.strata_reason,
    )
    name: schemas.Adjustment = "none"
    if cuped and stratified:
        name = "cuped+post_stratification"
    elif cuped or stratified:
        name = "cuped" if cuped else "post_stratification"
    return cuped_out, strata_out, name


def metric_out(
    readout: Readout, keys: Sequence[str], power: list[schemas.PowerOut] | None = None
) -> schemas.MetricResultOut:
    spec, analysis = readout.spec, readout.analysis
    estimates = analysis.arms if analysis is not None else (None,) * len(keys)
    correction = analysis.correction if analysis is not None else None
    cuped, strata, name = adjustments_out(readout)
    return schemas.MetricResultOut(
        metric_id=spec.id,
        key=spec.key,
        name=spec.name,
        role=spec.role,
        type=spec.definition.type.value,
        lower_is_better=spec.definition.lower_is_better,
        adjustment=name,
        cuped=cuped,
        stratification=strata,
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
        power=power,
    )


def holdout_out(readout: Readout, stats: DailyStats, keys: Sequence[str]) -> schemas.HoldoutMetric:
    """The project holdout against the pooled treated arms (every variant but the control),
    adjusted only with a covariate and strata both sides have."""
    spec = readout.spec
    holdout = stats.by_stratum(HOLDOUT_VARIANT)
    treated = sum((stats.by_stratum(key) for key in keys[1:]), start=np.zeros_like(holdout))
    options = replace(readout.options, srm_weights=None, cuped=readout.requested_cuped)
    pair = prepare(spec, (holdout, treated), options, stats.covariate)
    estimates = pair.analysis.arms if pair.analysis is not None else (None, None)
    cuped, strata, name = adjustments_out(pair)
    comparison = (
        comparison_result(["holdout", "treated"], pair.analysis.comparisons[0])
        if pair.analysis is not None
        else None
    )
    return schemas.HoldoutMetric(
        metric_id=spec.id,
        key=spec.key,
        adjustment=name,
        cuped=cuped,
        stratification=strata,
        holdout=variant_value(spec, "holdout", pair.arms[0], estimates[0]),
        treated=variant_value(spec, "treated", pair.arms[1], estimates[1]),
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
        point = prepare(spec, [array[i] for array in cumulative], options, stats.covariate)
        estimates = point.analysis.arms if point.analysis is not None else (None,) * len(keys)
        points.append(
            schemas.TimePoint(
                date=day_of(day),
                adjustment=adjustments_out(point)[2],
                variants=[
                    variant_value(spec, key, arm, est)
                    for key, arm, est in zip(keys, point.arms, estimates, strict=True)
                ],
                comparisons=[]
                if point.analysis is None
                else [comparison_result(list(keys), c) for c in point.analysis.comparisons],
            )
        )
    return points
