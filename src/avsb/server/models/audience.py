"""Audiences: a named rule tree on unit attributes (and segment membership)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType
from avsb.server.models.scoped import ProjectScoped


class Audience(Base, ProjectScoped):
    __tablename__ = "audiences"
    __resource_type__ = "audience"
    __snapshot_fields__ = ("key", "name", "description", "conditions")

    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType)
