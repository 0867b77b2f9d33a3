"""Feature flags: a typed default, ordered rules, or a binding to an experiment's params."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType
from avsb.server.models.scoped import ProjectScoped


class Flag(Base, ProjectScoped):
    """``rules`` is an ordered list of ``{audience_id, conditions, rollout_percent, value}``."""

    __tablename__ = "flags"
    __resource_type__ = "flag"
    __snapshot_fields__ = (
        "key",
        "name",
        "description",
        "type",
        "default_value",
        "enabled",
        "rules",
        "experiment_id",
        "experiment_param",
    )

    type: Mapped[str] = mapped_column(String(16))
    default_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    experiment_id: Mapped[str | None] = mapped_column(
        ForeignKey("experiments.id"), nullable=True, index=True
    )
    experiment_param: Mapped[str | None] = mapped_column(String(100), nullable=True)
    salt: Mapped[str] = mapped_column(String(64))
