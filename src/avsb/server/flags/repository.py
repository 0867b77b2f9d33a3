from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from avsb.server.design import repository
from avsb.server.models import Flag


def in_project(session: Session, project_id: str) -> Sequence[Flag]:
    """Every flag of a project, oldest first."""
    return session.scalars(repository.in_project(Flag, project_id)).all()


def bound_to(session: Session, experiment_id: str) -> Sequence[Flag]:
    """The flags whose values come from an experiment's variant params."""
    return session.scalars(select(Flag).where(Flag.experiment_id == experiment_id)).all()
