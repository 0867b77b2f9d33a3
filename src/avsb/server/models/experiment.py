"""Experiments and the registry that gives each variant its stable ``group_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType, UTCDateTime, utcnow
from avsb.server.models.scoped import ProjectScoped


class Experiment(Base, ProjectScoped):
    """``variants``: ``[{key, weight, params, group_id}]``; ``metrics``: ids by role;
    ``allocation``: this experiment's ``[start, end)`` bucket ranges in its exclusion group
    (null outside a group); ``decision``: what ``stop`` recorded.

    Lifecycle fields (status, allocation, decision, times) are not in the snapshot, so
    restoring a revision never moves an experiment through its lifecycle.
    """

    __tablename__ = "experiments"
    __resource_type__ = "experiment"
    __snapshot_fields__ = (
        "key",
        "name",
        "description",
        "hypothesis",
        "exclusion_group_id",
        "audience_id",
        "traffic_percent",
        "salt",
        "variants",
        "metrics",
        "analysis",
    )

    hypothesis: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    exclusion_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("exclusion_groups.id"), nullable=True, index=True
    )
    audience_id: Mapped[str | None] = mapped_column(
        ForeignKey("audiences.id"), nullable=True, index=True
    )
    traffic_percent: Mapped[float] = mapped_column(Float, default=100.0)
    salt: Mapped[str] = mapped_column(String(64))
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    metrics: Mapped[dict[str, list[str]]] = mapped_column(JSONType)
    analysis: Mapped[dict[str, Any]] = mapped_column(JSONType)
    allocation: Mapped[list[list[int]] | None] = mapped_column(JSONType, nullable=True)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


Index("ix_experiments_project_id_status", Experiment.project_id, Experiment.status)


class VariantGroupId(Base):
    """One row per (experiment, variant key), never deleted: a number is never reused in its
    organisation. Numbers are unique per organisation (not server-wide), so a workspace import
    keeps the numbers of its document."""

    __tablename__ = "variant_group_ids"
    __table_args__ = (UniqueConstraint("experiment_id", "variant_key"),)

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    experiment_id: Mapped[str] = mapped_column(String(40))
    variant_key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
