"""Templates: a stored experiment design that new draft experiments start from."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType
from avsb.server.models.scoped import ProjectScoped


class Template(Base, ProjectScoped):
    __tablename__ = "templates"
    __resource_type__ = "template"
    __snapshot_fields__ = ("key", "name", "description", "body")

    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
