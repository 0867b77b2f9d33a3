"""Metrics: what an experiment measures, defined over ingested events."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base
from avsb.server.models.scoped import ProjectScoped


class Metric(Base, ProjectScoped):
    __tablename__ = "metrics"
    __resource_type__ = "metric"
    __snapshot_fields__ = (
        "key",
        "name",
        "description",
        "type",
        "event_name",
        "value_property",
        "denominator_event_name",
        "window_hours",
        "winsorize_percentile",
        "winsorize_cap",
        "lower_is_better",
        "quantile",
        "test",
        "interval",
    )

    type: Mapped[str] = mapped_column(String(16))
    event_name: Mapped[str] = mapped_column(String(200))
    value_property: Mapped[str | None] = mapped_column(String(128), nullable=True)
    denominator_event_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    window_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    winsorize_percentile: Mapped[float | None] = mapped_column(Float, nullable=True)
    winsorize_cap: Mapped[float | None] = mapped_column(Float, nullable=True)
    lower_is_better: Mapped[bool] = mapped_column(Boolean, default=False)
    # Metric kinds beyond means (migration 0007_metric_kinds): the probability of a quantile
    # metric, the test (welch | mann_whitney) and interval (normal | bootstrap) of count/sum.
    quantile: Mapped[float | None] = mapped_column(Float, nullable=True)
    test: Mapped[str] = mapped_column(
        "test_method", String(16), default="welch", server_default="welch"
    )
    interval: Mapped[str] = mapped_column(
        "interval_method", String(16), default="normal", server_default="normal"
    )
