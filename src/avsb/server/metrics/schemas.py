from __future__ import annotations

from typing import Literal

from pydantic import Field

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch

MetricType = Literal["binary", "count", "sum", "mean", "ratio"]
EVENT_NAME = r"^[^\x00-\x1f]{1,200}$"
PROPERTY = r"^[A-Za-z0-9_\-]{1,128}$"
_WINDOW = Field(
    default=168.0, gt=0, le=24 * 366 * 5, description="Conversion window after exposure"
)
_PERCENTILE = Field(default=None, gt=0, lt=100, description="Cap per-unit values at it")
_CAP = Field(default=None, allow_inf_nan=False, description="A fixed cap on per-unit values")


class MetricCreate(ScopedCreate):
    type: MetricType
    event_name: str = Field(pattern=EVENT_NAME)
    value_property: str | None = Field(
        default=None, pattern=PROPERTY, description="null = the event's own value"
    )
    denominator_event_name: str | None = Field(default=None, pattern=EVENT_NAME)
    window_hours: float | None = _WINDOW
    winsorize_percentile: float | None = _PERCENTILE
    winsorize_cap: float | None = _CAP
    lower_is_better: bool = False


class MetricPatch(ScopedPatch):
    __nullable__ = frozenset(
        {"value_property", "denominator_event_name", "window_hours"}
        | {"winsorize_percentile", "winsorize_cap"}
    )

    type: MetricType | None = None
    event_name: str | None = Field(default=None, pattern=EVENT_NAME)
    value_property: str | None = Field(default=None, pattern=PROPERTY)
    denominator_event_name: str | None = Field(default=None, pattern=EVENT_NAME)
    window_hours: float | None = Field(default=None, gt=0, le=24 * 366 * 5)
    winsorize_percentile: float | None = _PERCENTILE
    winsorize_cap: float | None = _CAP
    lower_is_better: bool | None = None


class MetricFilters(ListFilters):
    type: MetricType | None = None


class MetricOut(ScopedOut):
    type: MetricType
    event_name: str
    value_property: str | None
    denominator_event_name: str | None
    window_hours: float | None
    winsorize_percentile: float | None
    winsorize_cap: float | None
    lower_is_better: bool
