from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from avsb.server.models import Experiment, ExperimentPlan, Metric, VariantGroupId


def in_group(session: Session, group_id: str, *, archived: bool) -> Sequence[Experiment]:
    """The experiments of an exclusion group (``archived=False`` leaves archived ones out)."""
    stmt = select(Experiment).where(Experiment.exclusion_group_id == group_id)
    if not archived:
        stmt = stmt.where(Experiment.status != "archived")
    return session.scalars(stmt.order_by(Experiment.id)).all()


def with_audience(session: Session, audience_id: str) -> Sequence[Experiment]:
    stmt = select(Experiment).where(Experiment.audience_id == audience_id)
    return session.scalars(stmt).all()


def in_project(
    session: Session, project_id: str, statuses: Collection[str] | None = None
) -> Sequence[Experiment]:
    """A project's experiments (only those in ``statuses`` when given), oldest first."""
    stmt = select(Experiment).where(Experiment.project_id == project_id)
    if statuses is not None:
        stmt = stmt.where(Experiment.status.in_(list(statuses)))
    return session.scalars(stmt.order_by(Experiment.id)).all()


def using_metric(session: Session, metric: Metric) -> list[Experiment]:
    return [
        e
        for e in in_project(session, metric.project_id)
        if any(metric.id in ids for ids in e.metrics.values())
    ]


def group_ids(session: Session, experiment_id: str) -> dict[str, int]:
    """Variant key -> group id of every variant key an experiment has ever had."""
    stmt = select(VariantGroupId.variant_key, VariantGroupId.group_id).where(
        VariantGroupId.experiment_id == experiment_id
    )
    return {str(key): int(group_id) for key, group_id in session.execute(stmt)}


def taken_group_ids(session: Session, org_id: str, group_ids: Collection[int]) -> set[int]:
    """Those of ``group_ids`` some variant of the organisation holds (or once held)."""
    if not group_ids:
        return set()
    stmt = select(VariantGroupId.group_id).where(
        VariantGroupId.org_id == org_id, VariantGroupId.group_id.in_(sorted(set(group_ids)))
    )
    return {int(group_id) for group_id in session.scalars(stmt)}


def plans_stmt(experiment_id: str) -> Select[ExperimentPlan]:
    return select(ExperimentPlan).where(ExperimentPlan.experiment_id == experiment_id)


def plan(session: Session, experiment_id: str, *, latest: bool) -> ExperimentPlan | None:
    """The first (``latest=False``) or the current analysis plan of an experiment."""
    number = func.max if latest else func.min
    version = (
        select(number(ExperimentPlan.version))
        .where(ExperimentPlan.experiment_id == experiment_id)
        .scalar_subquery()
    )
    stmt = plans_stmt(experiment_id).where(ExperimentPlan.version == version)
    return session.scalars(stmt).first()


def salt_taken(session: Session, experiment: Experiment, salt: str) -> bool:
    """Whether another experiment of the project hashes with ``salt``."""
    stmt = select(Experiment.id).where(
        Experiment.project_id == experiment.project_id,
        Experiment.salt == salt,
        Experiment.id != experiment.id,
    )
    return session.scalars(stmt.limit(1)).first() is not None
