from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch
from avsb.server.kit.schemas import StrictModel
from avsb.server.projects.schemas import KEY_PATTERN

Status = Literal["draft", "running", "paused", "stopped", "archived"]
ParamKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ParamValue = Annotated[str, StringConstraints(max_length=10_000)]
MetricId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
SALT_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"
_TRAFFIC = Field(default=100.0, gt=0, le=100, description="Share of the group's traffic")
_GROUP = Field(default=None, min_length=1, max_length=40)


class Variant(StrictModel):
    key: str = Field(pattern=KEY_PATTERN)
    weight: float = Field(gt=0, le=100, description="Percent of the experiment's units")
    params: dict[ParamKey, ParamValue] = Field(default_factory=dict, max_length=100)


class MetricRoles(StrictModel):
    primary: list[MetricId] = Field(default_factory=list, max_length=20)
    secondary: list[MetricId] = Field(default_factory=list, max_length=50)
    guardrail: list[MetricId] = Field(default_factory=list, max_length=20)


class Analysis(StrictModel):
    method: Literal["frequentist", "bayesian", "sequential"] = "frequentist"
    alpha: float = Field(default=0.05, gt=0, le=0.5)
    power: float = Field(default=0.8, gt=0, lt=1)
    cuped: bool = True
    two_sided: bool = True
    correction: Literal["none", "holm", "bh", "bonferroni"] = "holm"
    stopping_rule: Literal["fixed_horizon", "sequential"] | None = Field(
        default=None, description="Default: sequential for the sequential method, else fixed"
    )
    planned_sample_size: int | None = Field(
        default=None, ge=1, le=10**12, description="Planned units per variant"
    )
    mde_pct: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description="Relative minimum detectable effect (percent) the experiment is powered for:"
        " results report the power so far and the days still needed for it",
    )

    @model_validator(mode="after")
    def _default_stopping_rule(self) -> Self:
        if self.stopping_rule is None:
            sequential = self.method == "sequential"
            self.stopping_rule = "sequential" if sequential else "fixed_horizon"
        return self


class ExperimentDesign(StrictModel):
    """What a template stores: an experiment without its project, key and name."""

    hypothesis: str = Field(default="", max_length=5000)
    exclusion_group_id: str | None = _GROUP
    audience_id: str | None = _GROUP
    traffic_percent: float = _TRAFFIC
    variants: list[Variant] = Field(min_length=2, max_length=10)
    metrics: MetricRoles = Field(default_factory=MetricRoles)
    analysis: Analysis = Field(default_factory=Analysis)


class ExperimentCreate(ScopedCreate, ExperimentDesign):
    salt: str | None = Field(
        default=None, pattern=SALT_PATTERN, description="Hash salt; generated when omitted"
    )


class ExperimentPatch(ScopedPatch):
    __nullable__ = frozenset({"exclusion_group_id", "audience_id"})

    hypothesis: str | None = Field(default=None, max_length=5000)
    exclusion_group_id: str | None = _GROUP
    audience_id: str | None = _GROUP
    traffic_percent: float | None = Field(default=None, gt=0, le=100)
    variants: list[Variant] | None = Field(default=None, min_length=2, max_length=10)
    metrics: MetricRoles | None = None
    analysis: Analysis | None = None
    salt: str | None = Field(default=None, pattern=SALT_PATTERN)


class ExperimentFilters(ListFilters):
    status: Status | None = None
    exclusion_group_id: str | None = Field(default=None, max_length=40)


class StopBody(StrictModel):
    winner: str | None = Field(default=None, max_length=100, description="A variant key or null")
    reason: str = Field(default="", max_length=5000)
    rollout_flag_id: str | None = Field(
        default=None,
        max_length=40,
        description="A flag bound to this experiment: the winner's value becomes its default",
    )


class VariantOut(BaseModel):
    key: str
    weight: float
    params: dict[str, str]
    group_id: int = Field(description="Stable number of the variant, unique in the org")


class DecisionOut(BaseModel):
    winner: str | None
    reason: str
    rollout_flag_id: str | None
    decided_at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str


class ExperimentOut(ScopedOut):
    hypothesis: str
    status: Status
    exclusion_group_id: str | None
    audience_id: str | None
    traffic_percent: float
    salt: str
    variants: list[VariantOut]
    metrics: MetricRoles
    analysis: Analysis
    allocation: list[list[int]] | None = Field(
        description="[start, end) bucket ranges out of 10,000 in the exclusion group"
    )
    decision: DecisionOut | None
    started_at: datetime | None
    stopped_at: datetime | None
    archived_at: datetime | None


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    experiment_id: str
    version: int
    plan: dict[str, Any]
    created_at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str
