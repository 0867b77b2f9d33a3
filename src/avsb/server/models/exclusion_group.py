"""Exclusion groups (layers): experiments in one group never share a unit."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base
from avsb.server.models.scoped import ProjectScoped


class ExclusionGroup(Base, ProjectScoped):
    """A layer of 10,000 buckets; each member experiment owns ``experiments.allocation``."""

    __tablename__ = "exclusion_groups"
    __resource_type__ = "exclusion_group"
    __snapshot_fields__ = ("key", "name", "description")

    salt: Mapped[str] = mapped_column(String(64))
