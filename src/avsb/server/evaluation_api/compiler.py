"""Build one project's `ProjectConfig` (the evaluation core's input) from the database.

Read in one snapshot: the config's change version first, then the project's exclusion groups
with their allocations, live experiments (and any experiment a flag is bound to), audiences,
segments with their members, and flags. Its `revision` is the project's change version, so
it only ever grows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from avsb.server import models
from avsb.server.evaluation_api import repository
from avsb_sdk.evaluation import (
    Experiment,
    Flag,
    FlagRule,
    Layer,
    ProjectConfig,
    Segment,
    Variant,
    parse_condition,
)
from avsb_sdk.evaluation.config import BucketRange


def holdout_salt(project_salt: str) -> str:
    """The project holdout's salt: the only salt with this form, so it never clashes."""
    return f"{project_salt}:holdout"


def _variant(raw: Mapping[str, Any]) -> Variant:
    params = {str(k): str(v) for k, v in dict(raw.get("params") or {}).items()}
    return Variant(str(raw["key"]), int(raw["group_id"]), float(raw["weight"]), params)


def _experiment(row: models.Experiment, group_keys: Mapping[str, str]) -> Experiment:
    group = row.exclusion_group_id
    return Experiment(
        id=row.id,
        key=row.key,
        salt=row.salt,
        status=row.status,
        variants=tuple(_variant(v) for v in row.variants),
        layer_key=None if group is None else group_keys.get(group, group),
        traffic_percent=float(row.traffic_percent),
        audience_id=row.audience_id,
    )


def _layers(
    groups: Sequence[models.ExclusionGroup], experiments: Sequence[models.Experiment]
) -> tuple[Layer, ...]:
    """Each group with the bucket ranges of its live experiments (paused ones keep theirs)."""
    owned: dict[str, dict[str, tuple[BucketRange, ...]]] = {g.id: {} for g in groups}
    for e in experiments:
        live = e.status in repository.LIVE_STATUSES
        if live and e.exclusion_group_id in owned and e.allocation:
            ranges = tuple((int(start), int(end)) for start, end in e.allocation)
            owned[e.exclusion_group_id][e.id] = ranges
    return tuple(Layer(g.key, g.salt, owned[g.id]) for g in groups)


def _segments(
    rows: Sequence[models.Segment], members: Mapping[str, set[str]]
) -> dict[str, Segment]:
    out: dict[str, Segment] = {}
    for row in rows:
        if row.type == "ids":
            out[row.id] = Segment(unit_ids=frozenset(members.get(row.id, ())))
        else:
            out[row.id] = Segment(conditions=parse_condition(row.conditions, f"segments.{row.id}"))
    return out


def _rule(raw: Mapping[str, Any], path: str) -> FlagRule:
    conditions = raw.get("conditions")
    return FlagRule(
        value=raw.get("value"),
        audience_id=raw.get("audience_id"),
        conditions=None if conditions is None else parse_condition(conditions, path),
        rollout_percent=float(raw.get("rollout_percent", 100.0)),
    )


def _flag(row: models.Flag) -> Flag:
    return Flag(
        key=row.key,
        type=row.type,
        salt=row.salt,
        default_value=row.default_value,
        enabled=row.enabled,
        rules=tuple(_rule(r, f"flags.{row.key}.rules[{i}]") for i, r in enumerate(row.rules)),
        experiment_id=row.experiment_id,
        experiment_param=row.experiment_param,
    )


def read_project_config(session: Session, project_id: str) -> tuple[str, ProjectConfig] | None:
    """Return (org id, config) of a project, or None when it no longer exists.

    Raises ConfigError when stored data breaks an invariant of the evaluation core.
    """
    revision = repository.config_version(session, project_id)  # first: data is at least as new
    project = session.get(models.Project, project_id)
    if project is None:
        return None
    groups = repository.groups(session, project_id)
    experiments = repository.experiments(session, project_id)
    group_keys = {g.id: g.key for g in groups}
    segments = _segments(
        repository.segments(session, project_id), repository.segment_members(session, project_id)
    )
    config = ProjectConfig(
        project_id=project.id,
        project_key=project.key,
        holdout_salt=holdout_salt(project.salt),
        holdout_percent=float(project.holdout_percent),
        revision=revision,
        layers=_layers(groups, experiments),
        experiments=tuple(_experiment(e, group_keys) for e in experiments),
        audiences={
            a.id: parse_condition(a.conditions, f"audiences.{a.id}")
            for a in repository.audiences(session, project_id)
        },
        segments=segments,
        flags=tuple(_flag(f) for f in repository.flags(session, project_id)),
    )
    return project.org_id, config
