"""Request and response models of the stateless tools (`/api/tools/*`, `/api/v1/calculate`).

Impossible input fails here, as a 422 whose error locations name the field: a binary baseline
outside (0, 1), a variant count outside 2..10, a traffic split of the wrong length, an arm with
n < 2, zero variance in both arms of a comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]
Probability = Annotated[float, Field(ge=0, le=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
Level = Annotated[float, Field(gt=0, lt=1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class _Errors:
    """Collects field errors so one 422 lists every problem, each at its own path."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.items: list[InitErrorDetails] = []

    def add(self, loc: Loc, message: str, value: object) -> None:
        error = PydanticCustomError("value_error", message.replace("{", "(").replace("}", ")"))
        self.items.append(InitErrorDetails(type=error, loc=loc, input=value))

    def raise_any(self) -> None:
        if self.items:
            raise ValidationError.from_exception_data(self.title, self.items)


# --- analyze -------------------------------------------------------------------------------


class VariantStats(_Request):
    """One arm's sufficient statistics; which fields count depends on the metric type."""

    key: str = Field(min_length=1, max_length=200)
    n: int = Field(ge=2, le=10**15, description="units in the arm; 2 to 10^15")
    sum: float = 0.0
    sum_squares: float | None = Field(None, ge=0, description="required for continuous")
    covariate_sum: float = 0.0
    covariate_sum_squares: float = Field(0.0, ge=0)
    cross_sum: float = 0.0
    numerator_sum: float = 0.0
    numerator_sum_squares: float = Field(0.0, ge=0)
    denominator_sum: float = 0.0
    denominator_sum_squares: float = Field(0.0, ge=0)
    numerator_denominator_cross_sum: float = 0.0


class Stratum(_Request):
    """One stratum's arms, in the same order (control first) as every other stratum."""

    key: str = Field(min_length=1, max_length=200)
    variants: list[VariantStats] = Field(min_length=2, max_length=10)


class Prior(_Request):
    """A normal prior on the relative lift (0.1 = +10%)."""

    mean: float = 0.0
    sd: PositiveFloat = 0.3


MetricType = Literal["binary", "continuous", "ratio"]


class AnalyzeRequest(_Request):
    """Summary statistics in; `variants` (control first) or `strata` (post-stratified)."""

    metric_type: MetricType
    method: Literal["frequentist", "bayesian", "sequential"] = "frequentist"
    difference_type: Literal["relative", "absolute"] = "relative"
    alpha: Level = 0.05
    two_sided: bool = Field(True, description="false = one-sided: the variant is better")
    lower_is_better: bool = False
    sequential_tuning_parameter: PositiveFloat = 5000.0
    prior: Prior | None = None
    cuped: bool = False
    correction: Literal["none", "holm", "bh", "bonferroni"] = "none"
    variants: list[VariantStats] | None = Field(None, min_length=2, max_length=10)
    strata: list[Stratum] | None = Field(None, min_length=1, max_length=100)
    weights: list[PositiveFloat] | None = Field(None, description="configured split; equal")
    srm_threshold: Level = 0.001

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _Errors(type(self).__name__)
        groups = self.groups()
        if (self.variants is None) == (self.strata is None):
            errors.add(("variants",), "give exactly one of variants or strata", None)
        elif self.strata is not None:
            _check_strata_keys(self.strata, errors)
        elif self.variants is not None:
            _check_unique_keys(self.variants, ("variants",), errors)
        arms = len(groups[0][1]) if groups else 0
        if self.weights is not None and groups and len(self.weights) != arms:
            errors.add(("weights",), f"need {arms} weights, one per variant", self.weights)
        if self.cuped and self.metric_type == "ratio":
            errors.add(("cuped",), "CUPED is not supported for ratio metrics", self.cuped)
        for loc, variants in groups:
            for index, variant in enumerate(variants):
                _check_variant(self.metric_type, variant, (*loc, index), errors)
        if self.metric_type != "binary" and groups:
            _check_variance(self, groups, errors)
        errors.raise_any()
        return self

    def groups(self) -> list[tuple[Loc, list[VariantStats]]]:
        """(location, arms) for the flat variants or for each stratum."""
        if self.strata is not None:
            return [(("strata", s, "variants"), st.variants) for s, st in enumerate(self.strata)]
        return [(("variants",), self.variants)] if self.variants is not None else []


def _check_unique_keys(variants: Sequence[VariantStats], loc: Loc, errors: _Errors) -> None:
    seen: set[str] = set()
    for index, variant in enumerate(variants):
        if variant.key in seen:
            errors.add((*loc, index, "key"), f"duplicate variant key {variant.key!r}", variant.key)
        seen.add(variant.key)


def _check_strata_keys(strata: Sequence[Stratum], errors: _Errors) -> None:
    first = [v.key for v in strata[0].variants]
    _check_unique_keys(strata[0].variants, ("strata", 0, "variants"), errors)
    for s, stratum in enumerate(strata[1:], start=1):
        keys = [v.key for v in stratum.variants]
        if keys != first:
            errors.add(("strata", s, "variants"), f"variant keys must be {first} in order", keys)


def _check_variant(metric: MetricType, v: VariantStats, loc: Loc, errors: _Errors) -> None:
    if metric == "binary":
        if not 0 <= v.sum <= v.n:
            errors.add((*loc, "sum"), f"conversions must be in [0, n={v.n}]", v.sum)
        if v.sum_squares is not None and not math.isclose(v.sum_squares, v.sum, abs_tol=1e-9):
            errors.add((*loc, "sum_squares"), "for 0/1 data sum_squares equals sum", v.sum_squares)
    elif metric == "continuous":
        if v.sum_squares is None:
            errors.add((*loc, "sum_squares"), "required for a continuous metric", None)
        elif v.sum_squares < v.sum * (v.sum / v.n) * (1 - 1e-9):
            errors.add((*loc, "sum_squares"), "must be >= sum^2 / n", v.sum_squares)
    elif v.denominator_sum == 0:
        errors.add((*loc, "denominator_sum"), "must be nonzero for a ratio", v.denominator_sum)


def _unit_variance(metric: MetricType, v: VariantStats) -> float:
    """The spread sum((y - mean)^2), 0 when it is rounding noise; products ordered so a
    large sum gives inf (caught later as a clear error), never an OverflowError."""
    if metric == "ratio":
        n, ratio = v.n, v.numerator_sum / v.denominator_sum
        residual = v.numerator_sum - ratio * v.denominator_sum
        spread = (
            v.numerator_sum_squares
            - 2 * ratio * v.numerator_denominator_cross_sum
            + ratio * ratio * v.denominator_sum_squares
        ) - residual * (residual / n)
        scale = v.numerator_sum_squares + ratio * ratio * v.denominator_sum_squares
    else:
        squares = v.sum_squares or 0.0
        spread, scale = squares - v.sum * (v.sum / v.n), squares
    if math.isnan(spread):
        return math.inf
    return 0.0 if spread <= 1e-12 * max(scale, 1e-300) else spread


def _check_variance(
    req: AnalyzeRequest, groups: list[tuple[Loc, list[VariantStats]]], errors: _Errors
) -> None:
    """Zero variance in the control and a variant (in every stratum): nothing to test."""
    if errors.items:
        return
    arms = len(groups[0][1])
    flat = [
        all(_unit_variance(req.metric_type, variants[a]) == 0 for _, variants in groups)
        for a in range(arms)
    ]
    loc = groups[0][0]
    for a in range(1, arms):
        if flat[0] and flat[a]:
            message = "zero variance in both the control and this variant: no test is possible"
            errors.add((*loc, a, "sum_squares"), message, None)


class ComparisonResult(BaseModel):
    """One variant against the control; fields the method does not produce are null."""

    variant: str
    estimate: float
    standard_error: float
    ci: tuple[float | None, float | None]
    p_value: float | None
    adjusted_p_value: float | None
    chance_to_win: float | None
    risk_control: float | None
    risk_variant: float | None
    significant: bool
    difference_type: Literal["relative", "absolute"]
    test: str
    notes: list[str] = Field(
        default_factory=list, description="why the scale or the test differs from the request"
    )


class SrmSummary(BaseModel):
    p_value: float
    srm_detected: bool


class CorrectionSummary(BaseModel):
    """The family corrected (its size) and the alpha the intervals use to match."""

    method: str
    family_size: int
    interval_alpha: float


class AnalyzeResult(BaseModel):
    comparisons: list[ComparisonResult]
    srm: SrmSummary
    correction: CorrectionSummary | None = None


# --- planning --------------------------------------------------------------------------------


class _PlanFields(_Request):
    """Fields shared by sample size, /api/v1/calculate and sensitivity."""

    metric_type: Literal["binary", "continuous"]
    baseline_value: float
    std_dev: PositiveFloat | None = None
    alpha: Level = 0.05
    power: Level = 0.8
    two_sided: bool = True
    traffic_split: list[PositiveFloat] | None = Field(None, description="percent, control first")
    variants_count: int = Field(2, ge=2, le=10)
    expected_daily_traffic: PositiveFloat | None = None
    audience_share_in_test: float = Field(1.0, gt=0, le=1)

    def _plan_errors(self) -> _Errors:
        errors = _Errors(type(self).__name__)
        value = self.baseline_value
        if self.metric_type == "binary" and not 0 < value < 1:
            errors.add(("baseline_value",), "a binary baseline must be in (0, 1)", value)
        if self.metric_type == "continuous":
            if value <= 0:
                errors.add(("baseline_value",), "a continuous baseline must be > 0", value)
            if self.std_dev is None:
                errors.add(("std_dev",), "required for a continuous metric", None)
        split = self.traffic_split
        if split is not None and len(split) != self.variants_count:
            message = f"has {len(split)} shares for variants_count={self.variants_count}"
            errors.add(("traffic_split",), message, split)
        elif split is not None and not 99.5 <= sum(split) <= 100.5:
            errors.add(("traffic_split",), "percentages must add up to 100", split)
        if self.power <= self.alpha:
            errors.add(("power",), "must be greater than alpha", self.power)
        return errors


class SampleSizeRequest(_PlanFields):
    """Units needed to detect a relative lift of `mde_pct` percent."""

    mde_pct: float = Field(gt=0, le=10_000, description="relative, in percent")

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = self._plan_errors()
        treated = self.baseline_value * (1 + self.mde_pct / 100)
        if self.metric_type == "binary" and 0 < self.baseline_value < 1 and treated >= 1:
            errors.add(
                ("mde_pct",), f"takes the rate to {treated:.4g}; it must stay below 1", self.mde_pct
            )
        errors.raise_any()
        return self


class CalculateRequest(SampleSizeRequest):
    """The body of `POST /api/v1/calculate` (seed 001): the same fields as sample-size."""


class SampleSizeResult(BaseModel):
    sample_size_per_variant: list[int]
    total_sample_size: int
    estimated_duration_days: int | None
    method: str
    alpha_per_comparison: float


class SensitivityRequest(_PlanFields):
    """The smallest detectable lift for the traffic of `days` days."""

    expected_daily_traffic: PositiveFloat
    days: float = Field(gt=0, le=3650)

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._plan_errors().raise_any()
        return self


class SensitivityResult(BaseModel):
    """mde_pct is relative, in percent; null when no lift in the metric's range is detectable."""

    mde_pct: float | None
    mde_absolute: float | None
    sample_size_per_variant: list[int]
    total_sample_size: int
    days: float


# --- SRM, multiple testing, bandit -----------------------------------------------------------


class SrmRequest(_Request):
    observed: list[Annotated[int, Field(ge=0, le=10**15)]] = Field(min_length=2, max_length=100)
    weights: list[PositiveFloat] | None = None
    threshold: Level = 0.001
    sequential: bool = Field(False, description="decide by the anytime-valid sequential test")

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _Errors(type(self).__name__)
        if self.weights is not None and len(self.weights) != len(self.observed):
            errors.add(("weights",), "need one weight per observed count", self.weights)
        if sum(self.observed) == 0:
            errors.add(("observed",), "no units observed", self.observed)
        errors.raise_any()
        return self


class SrmResult(BaseModel):
    chi2: float
    df: int
    p_value: float
    srm_detected: bool
    expected: list[float]
    sequential_p_value: float | None = None


class MultipleTestingRequest(_Request):
    p_values: list[Probability] = Field(min_length=1, max_length=10_000)
    method: Literal["holm", "bh", "bonferroni"]
    alpha: Level = 0.05


class MultipleTestingResult(BaseModel):
    adjusted_p_values: list[float]
    reject: list[bool]
    family_size: int
    interval_alpha: float


class BanditSimulationRequest(_Request):
    true_rates: list[Probability] = Field(min_length=2, max_length=10)
    steps: int = Field(100, ge=1, le=1000)
    batch_size: int = Field(100, ge=1, le=10_000)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    prior_alpha: PositiveFloat = 1.0
    prior_beta: PositiveFloat = 1.0

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _Errors(type(self).__name__)
        if self.steps * self.batch_size > 1_000_000:
            errors.add(
                ("batch_size",), "steps x batch_size must be at most 1,000,000", self.batch_size
            )
        errors.raise_any()
        return self


class BanditSimulationResult(BaseModel):
    allocation: list[list[float]]
    cumulative_regret: list[float]
    pulls: list[int]
    successes: list[int]
    posterior_means: list[float]
    best_arm: int
    uniform_regret: float
