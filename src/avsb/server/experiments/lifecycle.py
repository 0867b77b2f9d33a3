"""Experiment lifecycle: draft -> running <-> paused -> stopped -> archived (draft -> archived).

Each transition is audited, bumps the project's evaluation config and emits its webhook.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from avsb.server.errors import InvalidTransition, field_error
from avsb.server.exclusion_groups import service as group_service
from avsb.server.experiments import plans
from avsb.server.experiments import service as experiment_service
from avsb.server.experiments.schemas import StopBody
from avsb.server.flags import service as flag_service
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.models import Experiment, Flag
from avsb.server.models.base import utcnow
from avsb.server.webhooks import service as webhook_service

TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "start": (frozenset({"draft", "paused"}), "running"),
    "pause": (frozenset({"running"}), "paused"),
    "stop": (frozenset({"running", "paused"}), "stopped"),
    "archive": (frozenset({"draft", "stopped"}), "archived"),
}


def _check(experiment: Experiment, action: str) -> str:
    allowed, target = TRANSITIONS[action]
    if experiment.status not in allowed:
        raise InvalidTransition(
            f"Cannot {action} an experiment that is {experiment.status}.",
            details={"status": experiment.status, "allowed_from": sorted(allowed), "to": target},
        )
    return target


def _commit(
    session: Session,
    ctx: ChangeContext,
    experiment: Experiment,
    event: str,
    details: dict[str, Any],
) -> None:
    """Record the transition already applied to ``experiment``: audit, config, webhook."""
    action = f"experiment.{event}"
    resources.touch(session, ctx, experiment, action, details)
    data = experiment_service.present(experiment).model_dump(mode="json")
    webhook_service.emit(session, experiment.org_id, action, data, experiment.project_id)


def start(session: Session, ctx: ChangeContext, experiment: Experiment) -> Experiment:
    """Start a draft (pinning plan version 1) or resume a paused experiment."""
    target, was = _check(experiment, "start"), experiment.status
    if was == "draft":
        experiment.started_at = utcnow()
        group_id = experiment.exclusion_group_id
        if group_id is not None:
            percent = experiment.traffic_percent
            experiment.allocation = group_service.allocate(session, experiment, group_id, percent)
    experiment.status = target
    _commit(session, ctx, experiment, "started", {"status": {"from": was, "to": target}})
    plans.pin(session, ctx, experiment)
    return experiment


def pause(session: Session, ctx: ChangeContext, experiment: Experiment) -> Experiment:
    target, was = _check(experiment, "pause"), experiment.status
    experiment.status = target
    _commit(session, ctx, experiment, "paused", {"status": {"from": was, "to": target}})
    return experiment


def archive(session: Session, ctx: ChangeContext, experiment: Experiment) -> Experiment:
    """Archive; the experiment's buckets in its exclusion group become free."""
    target, was = _check(experiment, "archive"), experiment.status
    experiment.status, experiment.archived_at, experiment.allocation = target, utcnow(), None
    status = {"from": was, "to": target}
    _commit(session, ctx, experiment, "archived", {"status": status})
    return experiment


def _rollout_flag(session: Session, experiment: Experiment, body: StopBody) -> Flag | None:
    if body.rollout_flag_id is None:
        return None
    if body.winner is None:
        raise field_error("rollout_flag_id", "A rollout needs a winner.")
    flag = session.get(Flag, body.rollout_flag_id)
    if flag is None or flag.org_id != experiment.org_id or flag.experiment_id != experiment.id:
        raise field_error("rollout_flag_id", "Not a flag bound to this experiment.")
    return flag


def stop(
    session: Session, ctx: ChangeContext, experiment: Experiment, body: StopBody
) -> Experiment:
    """Stop and record the decision; optionally roll the winner out through a bound flag."""
    target, was = _check(experiment, "stop"), experiment.status
    winners = [v for v in experiment.variants if v["key"] == body.winner]
    if body.winner is not None and not winners:
        raise field_error("winner", f"No variant {body.winner!r} in this experiment.")
    flag = _rollout_flag(session, experiment, body)
    now = utcnow()
    decision = {
        "winner": body.winner,
        "reason": body.reason,
        "rollout_flag_id": body.rollout_flag_id,
        "decided_at": now.isoformat(),
        "actor_type": ctx.actor.type,
        "actor_id": ctx.actor.id,
        "actor_name": ctx.actor.name,
    }
    experiment.status, experiment.stopped_at, experiment.decision = target, now, decision
    status = {"from": was, "to": target}
    _commit(session, ctx, experiment, "stopped", {"status": status, "decision": decision})
    if flag is not None:
        flag_service.roll_out(session, ctx, flag, winners[0]["params"])
    return experiment
