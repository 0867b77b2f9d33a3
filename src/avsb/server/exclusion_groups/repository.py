from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from avsb.server.design import repository
from avsb.server.models import ExclusionGroup


def lock(session: Session, group_id: str) -> ExclusionGroup | None:
    """The group, row-locked (PostgreSQL) so concurrent allocations in it queue up.

    SQLite needs no lock: its write transactions already run one at a time.
    """
    stmt = select(ExclusionGroup).where(ExclusionGroup.id == group_id).with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def in_project(session: Session, project_id: str) -> Sequence[ExclusionGroup]:
    return session.scalars(repository.in_project(ExclusionGroup, project_id)).all()
