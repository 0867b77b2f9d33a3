"""Segments: a list of unit ids (rows of ``segment_members``) or a rule tree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType
from avsb.server.models.scoped import ProjectScoped


class Segment(Base, ProjectScoped):
    """``type`` "ids" keeps its members in ``segment_members``; "conditions" has ``conditions``.

    Members are not part of revisions (a list may hold millions of ids); ``member_count`` is
    kept in step by every member change.
    """

    __tablename__ = "segments"
    __resource_type__ = "segment"
    __snapshot_fields__ = ("key", "name", "description", "conditions")

    type: Mapped[str] = mapped_column(String(16))
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    member_count: Mapped[int] = mapped_column(Integer, default=0)


class SegmentMember(Base):
    __tablename__ = "segment_members"

    segment_id: Mapped[str] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[str] = mapped_column(String(256), primary_key=True)
