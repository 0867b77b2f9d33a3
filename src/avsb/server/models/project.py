"""Projects: the unit that experiments, flags and metrics belong to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, Revisioned, UTCDateTime


class Project(Base, Revisioned):
    __tablename__ = "projects"
    __resource_type__ = "project"
    __snapshot_fields__ = ("key", "name", "description", "holdout_percent", "archived_at")
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    holdout_percent: Mapped[float] = mapped_column(Float, default=0.0)
    # The holdout's hash salt: fixed at creation (the project id unless given), kept by a
    # workspace export/import so the same units stay held out.
    salt: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
