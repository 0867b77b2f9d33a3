"""Queries shared by the design resources."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, select

from avsb.server.models import Revision
from avsb.server.models.scoped import ProjectScoped

M = TypeVar("M", bound=ProjectScoped)


def prefix_pattern(prefix: str) -> str:
    """A LIKE pattern (escape ``\\``) matching strings that start with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def list_stmt(model: type[M], org_id: str, filters: BaseModel) -> Select[M]:
    """``model`` rows of the org matching ``filters`` (``key_prefix`` or column equalities)."""
    stmt = select(model).where(model.org_id == org_id)
    for name, value in filters.model_dump(exclude_none=True).items():
        if name == "key_prefix":
            stmt = stmt.where(model.key.like(prefix_pattern(value), escape="\\"))
        else:
            stmt = stmt.where(getattr(model, name) == value)
    return stmt


def in_project(model: type[M], project_id: str) -> Select[M]:
    """Every ``model`` row of a project, oldest first."""
    return select(model).where(model.project_id == project_id).order_by(model.id)


def created_by(model: type[M], stmt: Select[M], actor_id: str) -> Select[M]:
    """``stmt`` narrowed to the rows whose first revision (their creation) is ``actor_id``'s."""
    first = select(Revision.resource_id).where(
        Revision.resource_type == model.__resource_type__,
        Revision.number == 1,
        Revision.actor_id == actor_id,
    )
    return stmt.where(model.id.in_(first))


def by_key(model: type[M], org_id: str, project_id: str | None, limit: int) -> Select[M]:
    """At most ``limit`` rows of the org (of one project), by key: the options of a select."""
    stmt = select(model).where(model.org_id == org_id)
    if project_id is not None:
        stmt = stmt.where(model.project_id == project_id)
    return stmt.order_by(model.key, model.id).limit(limit)
