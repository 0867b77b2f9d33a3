from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch
from avsb.server.kit.schemas import StrictModel

FlagType = Literal["boolean", "string", "number", "json"]
MAX_RULES = 100
_PARAM = Field(default=None, min_length=1, max_length=100)


class FlagRule(StrictModel):
    audience_id: str | None = Field(default=None, min_length=1, max_length=40)
    conditions: dict[str, Any] | None = Field(
        default=None, description="An inline rule tree (and-ed with the audience, if any)"
    )
    rollout_percent: float = Field(default=100.0, ge=0, le=100)
    value: Any = Field(description="A value of the flag's type")


class FlagCreate(ScopedCreate):
    name: str = Field(default="", max_length=200, description="Defaults to the key")
    type: FlagType
    default_value: Any = Field(description="A value of the flag's type")
    enabled: bool = Field(default=True, description="false = kill switch: always the default")
    rules: list[FlagRule] = Field(default_factory=list, max_length=MAX_RULES)
    experiment_id: str | None = Field(default=None, min_length=1, max_length=40)
    experiment_param: str | None = _PARAM


class FlagPatch(ScopedPatch):
    __nullable__ = frozenset({"default_value", "experiment_id", "experiment_param"})

    type: FlagType | None = None
    default_value: Any = None
    enabled: bool | None = None
    rules: list[FlagRule] | None = Field(default=None, max_length=MAX_RULES)
    experiment_id: str | None = Field(default=None, min_length=1, max_length=40)
    experiment_param: str | None = _PARAM


class FlagFilters(ListFilters):
    experiment_id: str | None = Field(default=None, max_length=40)
    enabled: bool | None = None


class FlagRuleOut(BaseModel):
    audience_id: str | None
    conditions: dict[str, Any] | None
    rollout_percent: float
    value: Any


class FlagOut(ScopedOut):
    type: FlagType
    default_value: Any
    enabled: bool
    rules: list[FlagRuleOut]
    experiment_id: str | None
    experiment_param: str | None
    salt: str
