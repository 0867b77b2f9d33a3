"""Analysis plans: pinned when an experiment starts, a new version for each later change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType, UTCDateTime, utcnow


class ExperimentPlan(Base):
    """An append-only record: version 1 is what was planned before any data was seen."""

    __tablename__ = "experiment_plans"
    __table_args__ = (UniqueConstraint("experiment_id", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200))
