"""Queries of the workspace export and import."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from avsb.server.design import repository as design_repository
from avsb.server.models import ExperimentPlan, Project, SegmentMember, Webhook
from avsb.server.models.scoped import ProjectScoped

M = TypeVar("M", bound=ProjectScoped)


def count_projects(session: Session, org_id: str) -> int:
    """Projects of the org, archived ones included."""
    stmt = select(func.count()).select_from(Project).where(Project.org_id == org_id)
    return int(session.scalar(stmt) or 0)


def projects(session: Session, org_id: str) -> Sequence[Project]:
    return session.scalars(select(Project).where(Project.org_id == org_id)).all()


def in_project(session: Session, model: type[M], project_id: str) -> Sequence[M]:
    return session.scalars(design_repository.in_project(model, project_id)).all()


def members(session: Session, segment_ids: Collection[str]) -> dict[str, list[str]]:
    """Segment id -> its unit ids (in no particular order), read in one query."""
    out: dict[str, list[str]] = defaultdict(list)
    if segment_ids:
        stmt = select(SegmentMember.segment_id, SegmentMember.unit_id).where(
            SegmentMember.segment_id.in_(list(segment_ids))
        )
        for segment_id, unit_id in session.execute(stmt):
            out[segment_id].append(unit_id)
    return out


def plans(session: Session, experiment_ids: Collection[str]) -> dict[str, list[ExperimentPlan]]:
    """Experiment id -> its analysis plans, oldest version first."""
    out: dict[str, list[ExperimentPlan]] = defaultdict(list)
    if experiment_ids:
        stmt = (
            select(ExperimentPlan)
            .where(ExperimentPlan.experiment_id.in_(list(experiment_ids)))
            .order_by(ExperimentPlan.experiment_id, ExperimentPlan.version)
        )
        for plan in session.scalars(stmt):
            out[plan.experiment_id].append(plan)
    return out


def webhooks(session: Session, org_id: str) -> Sequence[Webhook]:
    return session.scalars(select(Webhook).where(Webhook.org_id == org_id)).all()
