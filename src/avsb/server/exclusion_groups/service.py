"""Exclusion groups (layers) and the bucket allocation of their experiments.

Each experiment in a group owns ``traffic_percent`` of the group's 10,000 buckets as
``[start, end)`` ranges. Ranges are planned by ``avsb_sdk.evaluation.layers``: raising a share
only adds ranges and existing ranges never move, so no unit ever changes experiment.
Every non-archived experiment of a group holds its ranges (drafts reserve theirs).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from avsb.server.design import refs
from avsb.server.errors import Conflict
from avsb.server.exclusion_groups import repository
from avsb.server.exclusion_groups.schemas import ExclusionGroupCreate, ExclusionGroupOut
from avsb.server.experiments import repository as experiment_repository
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import ExclusionGroup, Experiment
from avsb_sdk.evaluation.errors import LayerFullError
from avsb_sdk.evaluation.layers import plan_allocation

Ranges = list[list[int]]


def present(group: ExclusionGroup) -> ExclusionGroupOut:
    return ExclusionGroupOut.model_validate(group)


def create(session: Session, ctx: ChangeContext, body: ExclusionGroupCreate) -> ExclusionGroup:
    refs.project_for(session, ctx.org_id, body.project_id)
    group = ExclusionGroup(
        id=new_id("exg"), org_id=ctx.org_id, salt=secrets.token_hex(8), **body.model_dump()
    )
    resources.create(session, ctx, group)
    return group


def update(
    session: Session, ctx: ChangeContext, group: ExclusionGroup, spec: dict[str, Any]
) -> ExclusionGroup:
    resources.update(session, ctx, group, spec)
    return group


def delete(session: Session, ctx: ChangeContext, group: ExclusionGroup) -> None:
    members = [e.id for e in experiment_repository.in_group(session, group.id, archived=True)]
    refs.ensure_unused("exclusion group", members)
    resources.delete(session, ctx, group)


def allocations(session: Session, group_id: str) -> dict[str, Ranges]:
    """Experiment id -> its bucket ranges, for the experiments holding buckets in a group."""
    return {
        e.id: e.allocation
        for e in experiment_repository.in_group(session, group_id, archived=False)
        if e.allocation
    }


def allocate(session: Session, experiment: Experiment, group_id: str, percent: float) -> Ranges:
    """The ranges ``experiment`` owns in group ``group_id`` at ``percent`` (409 layer_full).

    Only computed: the caller stores them on the experiment in the same transaction.
    """
    repository.lock(session, group_id)
    current = allocations(session, group_id)
    current.pop(experiment.id, None)
    if experiment.exclusion_group_id == group_id and experiment.allocation:
        current[experiment.id] = experiment.allocation
    try:
        planned = plan_allocation(current, experiment.id, percent)
    except LayerFullError as exc:
        raise Conflict(
            f"The exclusion group has only {exc.free / 100:g}% of its traffic free; "
            f"this needs {exc.requested / 100:g}% more.",
            code="layer_full",
            details={"free_percent": exc.free / 100, "requested_percent": exc.requested / 100},
        ) from exc
    return [list(r) for r in planned.get(experiment.id, ())]
