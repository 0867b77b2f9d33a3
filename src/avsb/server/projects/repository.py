from __future__ import annotations

from sqlalchemy import Select, select

from avsb.server.models import Project


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
