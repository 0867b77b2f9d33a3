"""The reads a project's evaluation config is compiled from (every list in a stable order)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from avsb.server.models import (
    Audience,
    ChangeVersion,
    ExclusionGroup,
    Experiment,
    Flag,
    Project,
    Segment,
    SegmentMember,
)
from avsb.server.projects.service import config_scope

LIVE_STATUSES = ("running", "paused")


def project_ids(session: Session) -> list[str]:
    """Every project id, oldest first."""
    return list(session.scalars(select(Project.id).order_by(Project.id)))


def project_exists(session: Session, project_id: str) -> bool:
    return session.scalar(select(Project.id).where(Project.id == project_id)) is not None


def config_version(session: Session, project_id: str) -> int:
    """The change version of a project's evaluation config (0 before its first change)."""
    stmt = select(ChangeVersion.version).where(ChangeVersion.scope == config_scope(project_id))
    return int(session.scalar(stmt) or 0)


def groups(session: Session, project_id: str) -> Sequence[ExclusionGroup]:
    stmt = select(ExclusionGroup).where(ExclusionGroup.project_id == project_id)
    return session.scalars(stmt.order_by(ExclusionGroup.id)).all()


def experiments(session: Session, project_id: str) -> Sequence[Experiment]:
    """The live experiments of a project and every experiment a flag is bound to."""
    bound = select(Flag.experiment_id).where(
        Flag.project_id == project_id, Flag.experiment_id.is_not(None)
    )
    stmt = select(Experiment).where(
        Experiment.project_id == project_id,
        or_(Experiment.status.in_(LIVE_STATUSES), Experiment.id.in_(bound)),
    )
    return session.scalars(stmt.order_by(Experiment.id)).all()


def audiences(session: Session, project_id: str) -> Sequence[Audience]:
    stmt = select(Audience).where(Audience.project_id == project_id)
    return session.scalars(stmt.order_by(Audience.id)).all()


def segments(session: Session, project_id: str) -> Sequence[Segment]:
    stmt = select(Segment).where(Segment.project_id == project_id)
    return session.scalars(stmt.order_by(Segment.id)).all()


def segment_members(session: Session, project_id: str) -> dict[str, set[str]]:
    """Segment id -> unit ids, for every id-list segment of a project (in one query)."""
    stmt = (
        select(SegmentMember.segment_id, SegmentMember.unit_id)
        .join(Segment, Segment.id == SegmentMember.segment_id)
        .where(Segment.project_id == project_id)
    )
    members: dict[str, set[str]] = {}
    for segment_id, unit_id in session.execute(stmt):
        members.setdefault(segment_id, set()).add(unit_id)
    return members


def flags(session: Session, project_id: str) -> Sequence[Flag]:
    stmt = select(Flag).where(Flag.project_id == project_id)
    return session.scalars(stmt.order_by(Flag.id)).all()
