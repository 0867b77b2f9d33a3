"""Export: an organisation as a workspace document, with references by key and no secrets.

Every list is sorted by key (webhooks by URL), so two exports of equal workspaces are equal
whatever the ids and creation order. Each resource is its revision snapshot (the editable
state) with ids turned into keys, plus what a snapshot leaves out: salts, lifecycle, members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from avsb.server.models import (
    Audience,
    ExclusionGroup,
    Experiment,
    ExperimentPlan,
    Flag,
    Metric,
    Organization,
    Project,
    Segment,
    Template,
    Webhook,
)
from avsb.server.models.base import utcnow
from avsb.server.models.scoped import ProjectScoped
from avsb.server.workspace import repository
from avsb.server.workspace.references import metric_roles, one, segments_in_tree
from avsb.server.workspace.schemas import FORMAT, VERSION

Names = Mapping[str, Mapping[str, str]]
"""Resource kind -> id -> key, for one project."""

_MODELS: dict[str, type[ProjectScoped]] = {
    "exclusion_groups": ExclusionGroup,
    "segments": Segment,
    "audiences": Audience,
    "metrics": Metric,
    "experiments": Experiment,
    "flags": Flag,
    "templates": Template,
}
_DESIGN_REFS = ("exclusion_group_id", "audience_id", "metrics")
_WEBHOOK_FIELDS = ("url", "event_types", "description", "enabled")


def _design(spec: Mapping[str, Any], names: Names) -> dict[str, Any]:
    """An experiment design (of an experiment or a template) with its references by key."""
    out = {k: v for k, v in spec.items() if k not in _DESIGN_REFS}
    out["exclusion_group"] = one(spec.get("exclusion_group_id"), names["exclusion_groups"])
    out["audience"] = one(spec.get("audience_id"), names["audiences"])
    out["metrics"] = metric_roles(spec.get("metrics") or {}, names["metrics"])
    return out


def _plan(plan: ExperimentPlan, names: Names) -> dict[str, Any]:
    content = plan.plan
    return {
        "version": plan.version,
        "created_at": plan.created_at,
        "actor": {"type": plan.actor_type, "name": plan.actor_name},
        "metrics": metric_roles(content.get("metrics") or {}, names["metrics"]),
        "analysis": {k: v for k, v in content.items() if k not in ("metrics", "variants")},
        "variants": [
            {"key": v["key"], "weight": v["weight"], "group_id": v.get("group_id")}
            for v in content.get("variants", [])
        ],
    }


def _decision(decision: Mapping[str, Any] | None, names: Names) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "winner": decision.get("winner"),
        "reason": decision.get("reason", ""),
        "rollout_flag": one(decision.get("rollout_flag_id"), names["flags"]),
        "decided_at": datetime.fromisoformat(decision["decided_at"]),
        "actor": {"type": decision.get("actor_type"), "name": decision.get("actor_name")},
    }


def _experiment(e: Experiment, names: Names, plans: Sequence[ExperimentPlan]) -> dict[str, Any]:
    out = _design(e.snapshot(), names)
    keep = ("key", "weight", "params", "group_id")  # group ids: kept by an import
    out["variants"] = [{k: v[k] for k in keep} for v in e.variants]
    out.update(
        status=e.status,
        allocation=e.allocation,
        started_at=e.started_at,
        stopped_at=e.stopped_at,
        archived_at=e.archived_at,
        decision=_decision(e.decision, names),
        plans=[_plan(plan, names) for plan in plans],
    )
    return out


def _flag(flag: Flag, names: Names) -> dict[str, Any]:
    out = {k: v for k, v in flag.snapshot().items() if k != "experiment_id"}
    out["experiment"] = one(flag.experiment_id, names["experiments"])
    out["rules"] = [
        {
            "audience": one(rule.get("audience_id"), names["audiences"]),
            "conditions": segments_in_tree(rule.get("conditions"), names["segments"]),
            "rollout_percent": rule.get("rollout_percent", 100.0),
            "value": rule.get("value"),
        }
        for rule in flag.rules
    ]
    out["salt"] = flag.salt
    return out


def _webhooks(hooks: Sequence[Webhook]) -> list[dict[str, Any]]:
    """Subscriptions without their secrets, sorted by what they say (they have no key)."""
    out = [{name: getattr(hook, name) for name in _WEBHOOK_FIELDS} for hook in hooks]
    return sorted(out, key=lambda h: (h["url"], h["description"], h["event_types"]))


def _resources(session: Session, project: Project) -> tuple[dict[str, Any], Names]:
    rows = {
        kind: sorted(repository.in_project(session, model, project.id), key=lambda r: r.key)
        for kind, model in _MODELS.items()
    }
    names = {kind: {row.id: row.key for row in found} for kind, found in rows.items()}
    return rows, names


def _project(session: Session, project: Project, hooks: Sequence[Webhook]) -> dict[str, Any]:
    rows, names = _resources(session, project)
    members = repository.members(session, [s.id for s in rows["segments"]])
    plans = repository.plans(session, [e.id for e in rows["experiments"]])
    return {
        "key": project.key,
        "name": project.name,
        "description": project.description,
        "holdout_percent": project.holdout_percent,
        "salt": project.salt,
        "archived_at": project.archived_at,
        "exclusion_groups": [{**g.snapshot(), "salt": g.salt} for g in rows["exclusion_groups"]],
        "segments": [
            {**s.snapshot(), "type": s.type, "unit_ids": sorted(members[s.id])}
            if s.type == "ids"
            else {**s.snapshot(), "type": s.type, "unit_ids": None}
            for s in rows["segments"]
        ],
        "audiences": [
            {**a.snapshot(), "conditions": segments_in_tree(a.conditions, names["segments"])}
            for a in rows["audiences"]
        ],
        "metrics": [m.snapshot() for m in rows["metrics"]],
        "experiments": [_experiment(e, names, plans[e.id]) for e in rows["experiments"]],
        "flags": [_flag(f, names) for f in rows["flags"]],
        "templates": [{**t.snapshot(), "body": _design(t.body, names)} for t in rows["templates"]],
        "webhooks": _webhooks(hooks),
    }


def export_document(session: Session, org_id: str) -> dict[str, Any]:
    """The whole organisation as a workspace document (plain JSON-able data)."""
    org = session.get(Organization, org_id)
    hooks: dict[str | None, list[Webhook]] = defaultdict(list)
    for hook in repository.webhooks(session, org_id):
        hooks[hook.project_id].append(hook)
    projects = sorted(repository.projects(session, org_id), key=lambda p: p.key)
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utcnow(),
        "organization": {"name": org.name if org is not None else ""},
        "projects": [_project(session, p, hooks[p.id]) for p in projects],
        "webhooks": _webhooks(hooks[None]),
    }
