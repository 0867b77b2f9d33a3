from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from avsb.server.design import repository
from avsb.server.models import Template


def in_project(session: Session, project_id: str) -> Sequence[Template]:
    return session.scalars(repository.in_project(Template, project_id)).all()
