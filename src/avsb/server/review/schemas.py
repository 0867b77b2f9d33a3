"""Request and answer models of the design review and the hypothesis suggestions."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from avsb.server.experiments.schemas import Analysis
from avsb.server.kit.schemas import StrictModel
from avsb.server.review.hypotheses import Goal

Direction = Literal["increase", "decrease"]
Role = Literal["primary", "secondary", "guardrail"]
DraftMetricType = Literal[
    "binary", "continuous", "count", "sum", "mean", "ratio", "quantile", "categorical"
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ParamKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ParamValue = Annotated[str, StringConstraints(max_length=10_000)]
_DAILY = Field(
    default=None,
    gt=0,
    le=1e12,
    description="Units a day eligible for the experiment, before traffic_percent",
)
_DAYS = Field(default=None, gt=0, le=3650, description="How long the experiment will run")
_LOOKS = Field(
    default=None,
    ge=1,
    le=10_000,
    description="How many times the results will be read to decide whether to stop",
)
_USE_LLM = Field(
    default=True, description="Ask the configured language model too (ignored when none is)"
)


class _Body(StrictModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DraftVariant(_Body):
    key: Name
    weight: float = Field(gt=0, le=100, description="Percent of the experiment's units")
    params: dict[ParamKey, ParamValue] = Field(default_factory=dict, max_length=100)


class DraftMetric(_Body):
    key: Name
    name: str = Field(default="", max_length=200)
    role: Role = "primary"
    type: DraftMetricType = "binary"
    lower_is_better: bool = False
    baseline_value: float | None = Field(
        default=None, description="Control's rate (binary, in (0, 1)) or mean (> 0)"
    )
    std_dev: float | None = Field(default=None, gt=0, description="Per-unit sd (not binary)")
    expected_direction: Direction | None = Field(
        default=None, description="How the hypothesis expects this metric to move"
    )

    @model_validator(mode="after")
    def _check_baseline(self) -> Self:
        value = self.baseline_value
        if value is None:
            return self
        if self.type == "binary" and not 0 < value < 1:
            raise ValueError(f"baseline_value of a binary metric is a rate in (0, 1), not {value}")
        if self.type != "binary" and value <= 0:
            raise ValueError("baseline_value must be > 0: the effect is relative to it")
        return self


class DraftAnalysis(Analysis):
    planned_looks: int | None = _LOOKS

    @model_validator(mode="after")
    def _power_above_alpha(self) -> Self:
        if self.power <= self.alpha:
            raise ValueError(f"power ({self.power}) must be greater than alpha ({self.alpha})")
        if self.method == "frequentist" and self.stopping_rule == "sequential":
            # As for stored experiments (experiments.service.check_analysis).
            raise ValueError(
                "stopping early needs always-valid p-values: use the sequential method"
            )
        return self


class RunningExperimentIn(_Body):
    """A running experiment around the draft (the stored review finds these itself)."""

    key: Name
    exclusion_group_id: str | None = Field(default=None, min_length=1, max_length=200)
    audience_id: str | None = Field(default=None, min_length=1, max_length=200)
    traffic_percent: float = Field(default=100.0, gt=0, le=100)
    params: list[ParamKey] = Field(default_factory=list, max_length=100)


class DraftDesign(_Body):
    """An experiment design that is not stored: variants, metrics with baselines, traffic."""

    hypothesis: str = Field(default="", max_length=5000)
    variants: list[DraftVariant] = Field(min_length=2, max_length=10)
    metrics: list[DraftMetric] = Field(default_factory=list, max_length=50)
    analysis: DraftAnalysis = Field(default_factory=DraftAnalysis)
    traffic_percent: float = Field(default=100.0, gt=0, le=100)
    expected_daily_units: float | None = _DAILY
    planned_duration_days: float | None = _DAYS
    exclusion_group_id: str | None = Field(default=None, min_length=1, max_length=200)
    audience_id: str | None = Field(default=None, min_length=1, max_length=200)
    running_experiments: list[RunningExperimentIn] = Field(default_factory=list, max_length=200)
    use_llm: bool = _USE_LLM

    @field_validator("variants")
    @classmethod
    def _check_variants(cls, variants: list[DraftVariant]) -> list[DraftVariant]:
        keys = [v.key for v in variants]
        if len(set(keys)) != len(keys):
            raise ValueError("variant keys must be unique")
        total = math.fsum(v.weight for v in variants)
        if abs(total - 100.0) > 1e-6:
            raise ValueError(f"variant weights must sum to 100, not {total:g}")
        return variants

    @field_validator("metrics")
    @classmethod
    def _check_metrics(cls, metrics: list[DraftMetric]) -> list[DraftMetric]:
        keys = [m.key for m in metrics]
        if len(set(keys)) != len(keys):
            raise ValueError("metric keys must be unique")
        return metrics


class BaselineIn(_Body):
    baseline_value: float = Field(description="Control's rate (binary, in (0, 1)) or mean (> 0)")
    std_dev: float | None = Field(default=None, gt=0, description="Per-unit sd (not binary)")


class ExperimentReviewBody(_Body):
    """Facts the stored experiment does not hold; all optional."""

    expected_daily_units: float | None = _DAILY
    planned_duration_days: float | None = _DAYS
    baselines: dict[Annotated[str, StringConstraints(min_length=1, max_length=40)], BaselineIn] = (
        Field(default_factory=dict, max_length=50, description="By metric id")
    )
    expected_direction: Direction | None = Field(
        default=None, description="How the hypothesis expects the primary metrics to move"
    )
    planned_looks: int | None = _LOOKS
    use_llm: bool = _USE_LLM


class HypothesesRequest(_Body):
    goal: Goal
    context: str | None = Field(
        default=None, max_length=500, description="The area changed, e.g. 'the checkout page'"
    )
    metric: str | None = Field(
        default=None, max_length=200, description="Replaces each template's metric"
    )
    count: int = Field(default=3, ge=1, le=10)
    use_llm: bool = _USE_LLM


# --- answers -------------------------------------------------------------------------------


class FindingOut(BaseModel):
    code: str
    severity: Literal["info", "warning", "error"]
    message: str
    field: str | None = Field(description="JSON path of the design field it concerns")
    details: dict[str, Any]


class SummaryOut(BaseModel):
    status: Literal["ready", "needs_attention", "blocked"] = Field(
        description="blocked: at least one error; needs_attention: warnings only"
    )
    errors: int
    warnings: int
    infos: int


class LlmOut(BaseModel):
    model: str
    attribution: str
    items: list[str]
    error: str | None


class ReviewOut(BaseModel):
    experiment_id: str | None
    summary: SummaryOut
    findings: list[FindingOut]
    llm: LlmOut | None = Field(description="null unless a language model is configured")


class SuggestionOut(BaseModel):
    hypothesis: str
    change: str
    metric: str
    direction: Direction
    reason: str
    primary_metric: str
    lower_is_better: bool
    guardrail_metrics: list[str]


class HypothesesOut(BaseModel):
    goal: Goal
    suggestions: list[SuggestionOut]
    llm: LlmOut | None
