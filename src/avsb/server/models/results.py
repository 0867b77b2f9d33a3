"""Ingestion bookkeeping and stored results snapshots (the events themselves live in the
event store, not here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType, UTCDateTime, utcnow


class IngestionCounter(Base):
    """Events received, accepted, duplicated and rejected per project, experiment and kind.

    ``experiment`` is the experiment key for experiment kinds (exposure, covariate, stratum,
    holdout) and ``""`` for project-wide kinds (metric, identify, exclusion).
    """

    __tablename__ = "ingestion_counters"

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExposureAttributeKey(Base):
    """An attribute key seen on an experiment's exposures: where SRM diagnosis looks."""

    __tablename__ = "exposure_attribute_keys"

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ResultsSnapshot(Base):
    """One computed results answer, kept as history when it differs from the previous one."""

    __tablename__ = "results_snapshots"
    __table_args__ = (Index("ix_results_snapshots_experiment", "experiment_id", "segment", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(40))
    experiment_id: Mapped[str] = mapped_column(String(40))
    segment: Mapped[str] = mapped_column(String(300), default="")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    srm_detected: Mapped[bool] = mapped_column(Boolean, default=False)
    significant: Mapped[list[str]] = mapped_column(JSONType, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The lift-over-time series (``TimeseriesOut``) when the refresh computed it (the
    # dashboard's refreshes do; API reads do not): not part of the content compared.
    series: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True, default=None)


class ResultsRefresh(Base):
    """When the background job next refreshes a running experiment's results snapshot.

    The row is also the claim: a process takes an experiment by moving ``next_run_at`` on
    with a conditional UPDATE (``WHERE next_run_at <= now``), which exactly one process wins.
    """

    __tablename__ = "results_refreshes"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    claim_token: Mapped[str | None] = mapped_column(String(64), default=None)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
