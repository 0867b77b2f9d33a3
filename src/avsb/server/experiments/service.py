"""Experiments: design (variants, metrics, analysis, targeting, layer) and its edit rules.

A draft may change freely. Once started, what decides a unit's assignment is frozen
(key, variants and weights, salt, exclusion group, audience) and traffic may only grow;
metric and analysis changes stay possible but each one adds a plan version.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Set
from typing import Any

from sqlalchemy.orm import Session

from avsb.server.design import refs
from avsb.server.errors import Conflict, field_error
from avsb.server.exclusion_groups import service as group_service
from avsb.server.experiments import plans, repository
from avsb.server.experiments.schemas import ExperimentCreate, ExperimentOut
from avsb.server.flags import repository as flag_repository
from avsb.server.flags import service as flag_service
from avsb.server.kit import resources
from avsb.server.kit.context import Actor, ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Audience, ExclusionGroup, Experiment, Metric, VariantGroupId
from avsb.server.models.scoped import RESTORE_HOOKS

LIVE = frozenset({"running", "paused"})
GROUP_ID_MIN = 1_000_000
GROUP_ID_MAX = 2**31 - 1
"""Group ids are drawn from [GROUP_ID_MIN, GROUP_ID_MAX]: 32-bit, exact in JSON everywhere."""
FROZEN = ("key", "variants", "salt", "exclusion_group_id", "audience_id")
_ROLES = ("primary", "secondary", "guardrail")


def present(experiment: Experiment) -> ExperimentOut:
    return ExperimentOut.model_validate(experiment)


def get(session: Session, org_id: str, experiment_id: str) -> Experiment:
    return resources.get_in_org(session, Experiment, org_id, experiment_id)


def check_variants(variants: list[dict[str, Any]], path: str = "variants") -> None:
    """Unique keys and weights that sum to 100 (the schema checks count and sign)."""
    seen: set[str] = set()
    for i, variant in enumerate(variants):
        if variant["key"] in seen:
            raise field_error(f"{path}.{i}.key", f"Duplicate variant key {variant['key']!r}.")
        seen.add(variant["key"])
    total = math.fsum(v["weight"] for v in variants)
    if abs(total - 100.0) > 1e-6:
        raise field_error(path, f"Variant weights must sum to 100, not {total:g}.")


def check_analysis(analysis: dict[str, Any], path: str = "analysis") -> None:
    if analysis["method"] == "frequentist" and analysis["stopping_rule"] == "sequential":
        raise field_error(
            f"{path}.stopping_rule",
            "Stopping early needs always-valid p-values: use the sequential method.",
        )


def _check_metrics(session: Session, project_id: str, metrics: dict[str, list[str]]) -> None:
    seen: set[str] = set()
    for role in _ROLES:
        for i, metric_id in enumerate(metrics[role]):
            path = f"metrics.{role}.{i}"
            if metric_id in seen:
                raise field_error(path, f"Metric {metric_id!r} is listed more than once.")
            seen.add(metric_id)
            refs.in_project(session, Metric, project_id, metric_id, path)


def _check_design(session: Session, project_id: str, spec: dict[str, Any]) -> None:
    check_variants(spec["variants"])
    check_analysis(spec["analysis"])
    _check_metrics(session, project_id, spec["metrics"])
    if spec["audience_id"] is not None:
        refs.in_project(session, Audience, project_id, spec["audience_id"], "audience_id")
    if spec["exclusion_group_id"] is not None:
        group_id = spec["exclusion_group_id"]
        refs.in_project(session, ExclusionGroup, project_id, group_id, "exclusion_group_id")


def _check_bound_flags(session: Session, experiment: Experiment, variants: list[Any]) -> None:
    """Flags that read a param of this experiment must still find it in every variant."""
    for flag in flag_repository.bound_to(session, experiment.id):
        param = flag.experiment_param or ""
        for i, variant in enumerate(variants):
            path = f"variants.{i}.params"
            flag_service.check_binding(flag.type, param, [variant], path)


def _comparable(name: str, value: Any) -> Any:
    if name == "variants":
        return [{k: v[k] for k in ("key", "weight", "params")} for v in value]
    return value


def check_editable(status: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """409 when a change touches what is frozen once the experiment has started."""
    if status == "draft":
        return
    code = "experiment_running" if status in LIVE else "experiment_finished"
    for name in FROZEN:
        if _comparable(name, before[name]) != _comparable(name, after[name]):
            raise Conflict(
                f"{name} cannot change once the experiment has started (it is {status}).",
                code=code,
                details={"field": name, "status": status},
            )
    old, new = before["traffic_percent"], after["traffic_percent"]
    if new < old or (new != old and status not in LIVE):
        raise Conflict(
            f"traffic_percent may only be raised while the experiment runs (it is {status}).",
            code=code,
            details={"field": "traffic_percent", "status": status},
        )


def new_group_ids(
    session: Session, org_id: str, count: int, avoid: Set[int] = frozenset()
) -> list[int]:
    """``count`` numbers no variant of the organisation holds (nor ``avoid``).

    Random in [GROUP_ID_MIN, GROUP_ID_MAX], so concurrent creations in one organisation do not
    race for a counter; a number once given is never given again in its organisation.
    """
    chosen: list[int] = []
    while len(chosen) < count:
        wanted = {
            secrets.randbelow(GROUP_ID_MAX - GROUP_ID_MIN + 1) + GROUP_ID_MIN
            for _ in range(count - len(chosen))
        }
        wanted -= avoid | set(chosen)
        chosen += sorted(wanted - repository.taken_group_ids(session, org_id, wanted))
    return chosen


def with_group_ids(
    session: Session,
    experiment: Experiment,
    variants: list[dict[str, Any]],
    preset: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """``variants`` with their stable group ids. A variant key the experiment never had gets
    ``preset[key]`` (a workspace import: the caller checked it is free) or a new number."""
    known = repository.group_ids(session, experiment.id)
    preset = preset or {}
    keys = [key for key in dict.fromkeys(v["key"] for v in variants) if key not in known]
    fresh = iter(new_group_ids(session, experiment.org_id, sum(k not in preset for k in keys)))
    rows = [
        VariantGroupId(
            org_id=experiment.org_id,
            experiment_id=experiment.id,
            variant_key=key,
            group_id=preset[key] if key in preset else next(fresh),
        )
        for key in keys
    ]
    if rows:
        session.add_all(rows)
        session.flush()
        known.update({row.variant_key: row.group_id for row in rows})
    return [
        {"key": v["key"], "weight": v["weight"], "params": v["params"], "group_id": known[v["key"]]}
        for v in variants
    ]


def _check_salt(session: Session, experiment: Experiment, salt: str) -> None:
    # Two experiments hashing with one salt would assign correlated units.
    if repository.salt_taken(session, experiment, salt):
        raise field_error("salt", "Another experiment of the project uses this salt.")


def _allocation(
    session: Session, experiment: Experiment, group_id: str | None, percent: float
) -> list[list[int]] | None:
    if group_id is None:
        return None
    return group_service.allocate(session, experiment, group_id, percent)


def create(
    session: Session,
    ctx: ChangeContext,
    body: ExperimentCreate,
    *,
    group_ids: Mapping[str, int] | None = None,
) -> Experiment:
    """A draft; ``group_ids`` (variant key -> number, free in the org) is a workspace import's."""
    refs.project_for(session, ctx.org_id, body.project_id)
    spec = body.model_dump()
    spec["salt"] = spec["salt"] or secrets.token_hex(8)
    _check_design(session, body.project_id, spec)
    experiment = Experiment(id=new_id("exp"), org_id=ctx.org_id, status="draft", **spec)
    _check_salt(session, experiment, experiment.salt)
    experiment.variants = with_group_ids(session, experiment, spec["variants"], group_ids)
    group_id, percent = spec["exclusion_group_id"], spec["traffic_percent"]
    experiment.allocation = _allocation(session, experiment, group_id, percent)
    resources.create(session, ctx, experiment)
    return experiment


def _apply(session: Session, experiment: Experiment, before: dict[str, Any]) -> None:
    """Derived state after the design moved from ``before``: group ids and allocation."""
    experiment.variants = with_group_ids(session, experiment, experiment.variants)
    moved = before["exclusion_group_id"] != experiment.exclusion_group_id
    if moved or before["traffic_percent"] != experiment.traffic_percent:
        if moved:
            experiment.allocation = None
        group_id, percent = experiment.exclusion_group_id, experiment.traffic_percent
        experiment.allocation = _allocation(session, experiment, group_id, percent)


def update(
    session: Session, ctx: ChangeContext, experiment: Experiment, spec: dict[str, Any]
) -> Experiment:
    before = experiment.snapshot()
    after = {**before, **spec}
    check_editable(experiment.status, before, after)
    _check_design(session, experiment.project_id, after)
    if "salt" in spec:
        _check_salt(session, experiment, spec["salt"])
    if "variants" in spec:
        _check_bound_flags(session, experiment, spec["variants"])
        spec = {**spec, "variants": with_group_ids(session, experiment, spec["variants"])}
    group_id, percent = after["exclusion_group_id"], after["traffic_percent"]
    if group_id != before["exclusion_group_id"] or percent != before["traffic_percent"]:
        spec = {**spec, "allocation": _allocation(session, experiment, group_id, percent)}
    version = experiment.version
    resources.update(session, ctx, experiment, spec)
    if experiment.version != version and experiment.status != "draft":
        plans.pin(session, ctx, experiment)
    return experiment


def delete(session: Session, ctx: ChangeContext, experiment: Experiment) -> None:
    if experiment.status in LIVE:
        raise Conflict(
            "Stop the experiment before deleting it.",
            code="experiment_running",
            details={"status": experiment.status},
        )
    bound = [flag.id for flag in flag_repository.bound_to(session, experiment.id)]
    refs.ensure_unused("experiment", bound)
    resources.delete(session, ctx, experiment)


def _after_restore(session: Session, experiment: Experiment) -> None:
    revisions = resources.list_revisions(session, experiment)
    before, latest = revisions[-2].snapshot, revisions[-1]
    after = experiment.snapshot()
    check_editable(experiment.status, before, after)
    with refs.restoring():
        _check_design(session, experiment.project_id, after)
        _check_bound_flags(session, experiment, experiment.variants)
    _apply(session, experiment, before)
    session.flush()
    if experiment.status != "draft":
        actor = Actor(latest.actor_type, latest.actor_id, latest.actor_name)
        plans.pin(session, ChangeContext(org_id=experiment.org_id, actor=actor), experiment)


RESTORE_HOOKS[Experiment.__resource_type__] = _after_restore
