from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from avsb.server.models import (
    Audience,
    ExclusionGroup,
    Experiment,
    Flag,
    Metric,
    Project,
    Segment,
    Template,
)
from avsb.server.models.scoped import ProjectScoped


def list_stmt(org_id: str, archived: bool | None, key_prefix: str | None) -> Select[Project]:
    stmt = select(Project).where(Project.org_id == org_id)
    if archived is not None:
        stmt = stmt.where(
            Project.archived_at.is_not(None) if archived else Project.archived_at.is_(None)
        )
    if key_prefix:
        escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Project.key.like(f"{escaped}%", escape="\\"))
    return stmt


# Everything that lives in a project and keeps it from being deleted (ON DELETE is not set).
_CONTENTS: tuple[type[ProjectScoped], ...] = (
    Experiment,
    Flag,
    Audience,
    Segment,
    Metric,
    ExclusionGroup,
    Template,
)


def contents(session: Session, project_id: str, limit: int) -> list[str]:
    """Ids of up to ``limit`` resources still in the project (experiments first)."""
    found: list[str] = []
    for model in _CONTENTS:
        if len(found) >= limit:
            break
        stmt = select(model.id).where(model.project_id == project_id).order_by(model.id)
        found.extend(session.scalars(stmt.limit(limit - len(found))))
    return found
