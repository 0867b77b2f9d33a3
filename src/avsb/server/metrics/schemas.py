from __future__ import annotations

from typing import Literal

from pydantic import Field

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch

MetricType = Literal["binary", "count", "sum", "mean", "ratio", "quantile", "categorical"]
MetricTest = Literal["welch", "mann_whitney"]
MetricInterval = Literal["normal", "bootstrap"]
EVENT_NAME = r"^[^\x00-\x1f]{1,200}$"
PROPERTY = r"^[A-Za-z0-9_\-]{1,128}$"
_WINDOW = Field(
    default=168.0, gt=0, le=24 * 366 * 5, description="Conversion window after exposure"
)
_PERCENTILE = Field(default=None, gt=0, lt=100, description="Cap per-unit values at it")
_CAP = Field(default=None, allow_inf_nan=False, description="A fixed cap on per-unit values")
_QUANTILE = Field(
    default=None, gt=0, lt=1, description="quantile metrics: the probability (0.5 = median)"
)
_TEST = "count and sum metrics: Welch's t-test or the Mann-Whitney rank test"
_INTERVAL = "count and sum metrics: the normal interval or a Poisson-bootstrap BCa interval"


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
    quantile: float | None = _QUANTILE
    test: MetricTest = Field(default="welch", description=_TEST)
    interval: MetricInterval = Field(default="normal", description=_INTERVAL)


class MetricPatch(ScopedPatch):
    __nullable__ = frozenset(
        {"value_property", "denominator_event_name", "window_hours"}
        | {"winsorize_percentile", "winsorize_cap", "quantile"}
    )

    type: MetricType | None = None
    event_name: str | None = Field(default=None, pattern=EVENT_NAME)
    value_property: str | None = Field(default=None, pattern=PROPERTY)
    denominator_event_name: str | None = Field(default=None, pattern=EVENT_NAME)
    window_hours: float | None = Field(default=None, gt=0, le=24 * 366 * 5)
    winsorize_percentile: float | None = _PERCENTILE
    winsorize_cap: float | None = _CAP
    lower_is_better: bool | None = None
    quantile: float | None = _QUANTILE
    test: MetricTest | None = Field(default=None, description=_TEST)
    interval: MetricInterval | None = Field(default=None, description=_INTERVAL)


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
    quantile: float | None
    test: MetricTest
    interval: MetricInterval
