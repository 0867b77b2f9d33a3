from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from avsb.server.design import repository
from avsb.server.models import Audience


def in_project(session: Session, project_id: str) -> Sequence[Audience]:
    """Every audience of a project, oldest first."""
    return session.scalars(repository.in_project(Audience, project_id)).all()
