"""Answers of the results routes. Comparisons have the shape of ``/api/tools/analyze``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from avsb.server.tools.kinds_schemas import (
    BootstrapComparison,
    CategoricalResult,
    QuantileVariant,
    RankComparison,
)
from avsb.server.tools.schemas import ComparisonResult, CorrectionSummary

Role = Literal["primary", "secondary", "guardrail"]
Status = Literal["ok", "warning", "error"]
Adjustment = Literal["none", "cuped", "post_stratification", "cuped+post_stratification"]
_ADJUSTMENT = Field(description="The variance reduction the comparisons were computed with")


class VariantValue(BaseModel):
    key: str
    n: int = Field(description="Analysed units")
    sum: float = Field(description="Sum of per-unit values (the numerator for ratio metrics)")
    mean: float | None = Field(description="Per-unit mean (ratio of sums for ratio metrics)")
    adjusted_mean: float | None = Field(description="CUPED-adjusted (and post-stratified) mean")
    standard_error: float | None


class FamilyCorrection(CorrectionSummary):
    family: str = Field(description="primary | secondary: the metrics corrected together")


class CupedOut(BaseModel):
    applied: bool
    variance_reduction: float | None = Field(
        description="1 - adjusted / unadjusted variance of the arm means, pooled over arms"
        " (both post-stratified when the result is)"
    )
    covariate: Literal["ingested", "pre_period"] | None = Field(
        default=None,
        description="ingested covariates, or the metric's own pre-period (numerator and"
        " denominator for ratio and mean metrics)",
    )
    reason: str | None = Field(
        default=None, description="Why CUPED was asked for but not applied to this comparison"
    )


class StratificationOut(BaseModel):
    applied: bool
    cells: int = Field(description="Strata analysed (small strata are pooled into one cell)")
    variance_reduction: float | None = Field(
        description="1 - post-stratified / unstratified variance of the arm means, pooled"
    )
    reason: str | None = Field(description="Why the result is not post-stratified")


class PowerOut(BaseModel):
    """A running comparison's power for the plan's effect, and the days still needed."""

    variant: str
    mde_pct: float | None = Field(description="The relative effect (percent) powered for")
    mde_source: Literal["plan", "planned_sample_size"] | None = Field(
        description="plan: the analysis plan's mde_pct; planned_sample_size: the effect its"
        " planned units detect with the plan's power"
    )
    target_power: float
    power: float | None = Field(description="Power of the test at the units so far")
    required_units: int | None = Field(description="Units (all arms) for the target power")
    remaining_units: int | None
    daily_units: float | None = Field(description="Analysed units per day of exposures so far")
    remaining_days: float | None = Field(description="At the observed daily units; 0 if done")
    message: str


class MetricError(BaseModel):
    code: str
    message: str


class QuantileOut(BaseModel):
    quantile: float = Field(description="the probability: 0.5 = median")
    variants: list[QuantileVariant] = Field(
        description="per variant the sample quantile and its order-statistic interval"
    )


class MetricKindOut(BaseModel):
    """How a metric beyond means was analysed (docs/results.md, 'Metric kinds')."""

    test: str = Field(description="welch_t | mann_whitney | quantile_normal | chi_square")
    interval: str = Field(description="normal | bootstrap_bca | order_statistics | none")
    quantile: QuantileOut | None = None
    rank_tests: list[RankComparison] | None = None
    bootstrap: list[BootstrapComparison] | None = None
    categorical: CategoricalResult | None = None


class MetricResultOut(BaseModel):
    metric_id: str
    key: str
    name: str
    role: Role
    type: str
    lower_is_better: bool
    adjustment: Adjustment = _ADJUSTMENT
    cuped: CupedOut
    stratification: StratificationOut
    variants: list[VariantValue]
    comparisons: list[ComparisonResult]
    correction: FamilyCorrection | None
    error: MetricError | None = Field(description="Why there are no comparisons, if so")
    power: list[PowerOut] | None = Field(
        default=None, description="Primary metrics: per variant, the power so far"
    )
    kind: MetricKindOut | None = Field(
        None, description="Quantile, categorical, rank-test or bootstrap metrics: the details"
    )


class SrmOut(BaseModel):
    p_value: float | None
    sequential_p_value: float | None
    srm_detected: bool
    observed: list[int]
    expected: list[float]
    weights: list[float]


class SrmCell(BaseModel):
    """One day or attribute value: its counts and how far they are from the split."""

    group: str
    observed: list[int]
    chi2: float
    p_value: float


class SrmDiagnosis(BaseModel):
    by_day: list[SrmCell] = Field(description="Days most out of line first (at most 3)")
    by_attribute: dict[str, list[SrmCell]] = Field(
        description="Per exposure attribute key, the values most out of line first (at most 3)"
    )


class HealthCheck(BaseModel):
    status: Status
    count: int
    share: float | None
    message: str


class SrmCheck(BaseModel):
    status: Status
    p_value: float | None
    message: str
    diagnosis: SrmDiagnosis | None


class HealthOut(BaseModel):
    assigned_units: int
    analysed_units: int
    srm: SrmCheck
    multiple_variant_units: HealthCheck
    exclusions: HealthCheck
    bot_units: HealthCheck
    late_events: HealthCheck


class HoldoutMetric(BaseModel):
    metric_id: str
    key: str
    adjustment: Adjustment = _ADJUSTMENT
    cuped: CupedOut
    stratification: StratificationOut
    holdout: VariantValue
    treated: VariantValue
    comparison: ComparisonResult | None
    error: MetricError | None


class HoldoutOut(BaseModel):
    units: int
    metrics: list[HoldoutMetric]


class ReasonOut(BaseModel):
    code: str
    message: str
    metric: str | None
    variant: str | None


class DecisionOut(BaseModel):
    decision: Literal["ship", "no_ship", "keep_running"]
    variant: str | None
    reasons: list[ReasonOut]
    computed_at: datetime


class ResultsOut(BaseModel):
    experiment_id: str
    experiment_key: str
    computed_at: datetime
    segment: str | None
    method: str
    alpha: float
    sequential_tuning_parameter: float | None
    srm: SrmOut
    metrics: list[MetricResultOut]
    holdout: HoldoutOut | None
    health: HealthOut
    decision: DecisionOut | None = Field(
        default=None,
        description="The decision readout (as GET .../decision) of unsliced results; null for"
        " a segment",
    )


class TimePoint(BaseModel):
    date: date
    adjustment: Adjustment = _ADJUSTMENT
    variants: list[VariantValue]
    comparisons: list[ComparisonResult]


class MetricSeries(BaseModel):
    metric_id: str
    key: str
    role: Role
    points: list[TimePoint] = Field(description="Cumulative by first-exposure day")


class TimeseriesOut(BaseModel):
    experiment_id: str
    computed_at: datetime
    segment: str | None
    metrics: list[MetricSeries]


class SnapshotOut(BaseModel):
    id: str
    computed_at: datetime
    segment: str | None
    srm_detected: bool
    significant: list[str] = Field(description="metric_id:variant pairs significant then")
    results: dict[str, Any]
