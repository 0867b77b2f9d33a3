"""Analysis plans: what the experiment will be judged on, pinned when it starts.

Version 1 is written at the first start, before any data; every later change to the
metrics or the analysis settings adds a version, so a results page can show the plan
that was committed to beside the one in force.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from avsb.server.experiments import repository
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Experiment, ExperimentPlan


def build(experiment: Experiment) -> dict[str, Any]:
    """The plan of an experiment as it stands: metrics by role, analysis settings, variants."""
    return {
        "metrics": experiment.metrics,
        **experiment.analysis,
        "variants": [
            {"key": v["key"], "weight": v["weight"], "group_id": v["group_id"]}
            for v in experiment.variants
        ],
    }


def original(session: Session, experiment: Experiment) -> ExperimentPlan | None:
    """The plan pinned at the first start (None for a draft)."""
    return repository.plan(session, experiment.id, latest=False)


def current(session: Session, experiment: Experiment) -> ExperimentPlan | None:
    """The plan in force now (None for a draft)."""
    return repository.plan(session, experiment.id, latest=True)


def pin(session: Session, ctx: ChangeContext, experiment: Experiment) -> ExperimentPlan | None:
    """Add a plan version when the experiment's plan differs from its current one."""
    latest = current(session, experiment)
    plan = build(experiment)
    if latest is not None and latest.plan == plan:
        return None
    record = ExperimentPlan(
        id=new_id("pln"),
        org_id=experiment.org_id,
        experiment_id=experiment.id,
        version=1 if latest is None else latest.version + 1,
        plan=plan,
        actor_type=ctx.actor.type,
        actor_id=ctx.actor.id,
        actor_name=ctx.actor.name,
    )
    session.add(record)
    session.flush()
    return record
