"""A fingerprint per flag of everything its answers depend on; stdlib only.

A flag's answers depend on its own definition (type, salt, default, kill switch, rules), the
audiences and segments its rules name (segments nested in segments too), and, when it is
bound to an experiment, that experiment (with its audience and segments), the layer the
experiment lives in and the project holdout (whose salt comes from the project salt).
Nothing else: editing an audience no rule of the flag names leaves its fingerprint as it was,
so a client polling the flag (OFREP `metadata.revision`, the bulk ETag) sees no change.
Equal inputs give equal fingerprints in every process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from avsb_sdk.evaluation.conditions import Condition, segment_refs
from avsb_sdk.evaluation.config import Experiment, Flag, ProjectConfig
from avsb_sdk.evaluation.config_json import config_to_dict

__all__ = ["flag_fingerprints"]


def _segments_of(config: ProjectConfig, conditions: Iterable[Condition | None]) -> list[str]:
    """The segments the conditions refer to, with the segments those refer to, sorted."""
    pending = [ref for c in conditions if c is not None for ref in segment_refs(c)]
    seen: set[str] = set()
    while pending:
        segment_id = pending.pop()
        if segment_id in seen:
            continue
        seen.add(segment_id)
        segment = config.segments.get(segment_id)
        if segment is not None and segment.conditions is not None:
            pending.extend(segment_refs(segment.conditions))
    return sorted(seen)


class _Index:
    """The JSON form of a config, indexed for looking up one flag's dependencies."""

    def __init__(self, config: ProjectConfig) -> None:
        data: dict[str, Any] = config_to_dict(config)
        self.config = config
        self.flags = {f["key"]: f for f in data["flags"]}
        self.experiments = {e["id"]: e for e in data["experiments"]}
        self.layers = {layer["key"]: layer for layer in data["layers"]}
        self.audiences: dict[str, object] = data["audiences"]
        self.segments: dict[str, object] = data["segments"]
        self.by_id: dict[str, Experiment] = {e.id: e for e in config.experiments}

    def dependencies(self, flag: Flag) -> dict[str, object]:
        config = self.config
        audience_ids = {r.audience_id for r in flag.rules if r.audience_id is not None}
        conditions: list[Condition | None] = [r.conditions for r in flag.rules]
        deps: dict[str, object] = {"flag": self.flags[flag.key]}
        e = self.by_id.get(flag.experiment_id or "")
        if e is not None:
            if e.audience_id is not None:
                audience_ids.add(e.audience_id)
            conditions.append(e.conditions)
            deps["experiment"] = self.experiments[e.id]
            deps["layer"] = self.layers.get(e.layer_key or "")
            deps["holdout"] = [config.holdout_salt, config.holdout_percent]
        conditions += [config.audiences.get(a) for a in audience_ids]
        deps["audiences"] = {a: self.audiences.get(a) for a in sorted(audience_ids)}
        deps["segments"] = {s: self.segments.get(s) for s in _segments_of(config, conditions)}
        return deps


def flag_fingerprints(config: ProjectConfig) -> dict[str, str]:
    """Return each flag's fingerprint (16 hex digits) by flag key."""
    index = _Index(config)
    return {flag.key: _digest(index.dependencies(flag)) for flag in config.flags}


def _digest(deps: dict[str, object]) -> str:
    text = json.dumps(deps, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
