"""The project config: what the server compiles from its database and SDKs load as JSON.

Frozen dataclasses; `validate_config` checks every cross reference and invariant the
evaluator relies on. The JSON form lives in `config_json`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TypeAlias

from avsb_sdk.evaluation.conditions import Condition, segment_refs
from avsb_sdk.evaluation.errors import ConfigError
from avsb_sdk.evaluation.hashing import BUCKETS, percent_to_buckets
from avsb_sdk.evaluation.targeting import SegmentDefinition, compile_segments
from avsb_sdk.evaluation.values import JsonValue, is_json_value

__all__ = [
    "EXPERIMENT_STATUSES",
    "FLAG_TYPES",
    "SCHEMA_VERSION",
    "BucketRange",
    "Experiment",
    "Flag",
    "FlagRule",
    "Layer",
    "ProjectConfig",
    "Segment",
    "Variant",
    "flag_value_matches",
    "implicit_layer_salt",
    "validate_config",
]

SCHEMA_VERSION = 1
FLAG_TYPES = frozenset({"boolean", "string", "number", "json"})
EXPERIMENT_STATUSES = frozenset({"draft", "running", "paused", "stopped", "archived"})

BucketRange: TypeAlias = tuple[int, int]
"""A half-open range [start, end) of layer buckets, 0 <= start < end <= 10000."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm of an experiment; `group_id` is the stable number the ABC API returns."""

    key: str
    group_id: int
    weight: float
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment; only `running` ones assign units. `layer_key` None = its own layer."""

    id: str
    key: str
    salt: str
    status: str
    variants: tuple[Variant, ...]
    layer_key: str | None = None
    traffic_percent: float = 100.0
    audience_id: str | None = None
    conditions: Condition | None = None

    @property
    def effective_layer_key(self) -> str:
        """Return the key of the layer the experiment sits in (its own key when implicit)."""
        return self.key if self.layer_key is None else self.layer_key


@dataclass(frozen=True, slots=True)
class Layer:
    """An exclusion group: experiment id -> its disjoint bucket ranges out of 10000."""

    key: str
    salt: str
    allocations: Mapping[str, tuple[BucketRange, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment: either a list of unit ids or a condition tree (exactly one is set)."""

    unit_ids: frozenset[str] | None = None
    conditions: Condition | None = None


@dataclass(frozen=True, slots=True)
class FlagRule:
    """A flag rule: when the audience and conditions match and the unit is in the rollout."""

    value: JsonValue
    audience_id: str | None = None
    conditions: Condition | None = None
    rollout_percent: float = 100.0


@dataclass(frozen=True, slots=True)
class Flag:
    """A typed feature flag; `enabled` False is the kill switch (always the default)."""

    key: str
    type: str
    salt: str
    default_value: JsonValue
    enabled: bool = True
    rules: tuple[FlagRule, ...] = ()
    experiment_id: str | None = None
    experiment_param: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """Everything needed to evaluate one project; `revision` is the server's counter."""

    project_id: str
    project_key: str
    holdout_salt: str
    holdout_percent: float = 0.0
    revision: int = 0
    layers: tuple[Layer, ...] = ()
    experiments: tuple[Experiment, ...] = ()
    audiences: Mapping[str, Condition] = field(default_factory=dict)
    segments: Mapping[str, Segment] = field(default_factory=dict)
    flags: tuple[Flag, ...] = ()


def implicit_layer_salt(experiment: Experiment) -> str:
    """Return the layer salt of an experiment outside any exclusion group."""
    return f"{experiment.salt}:layer"


def flag_value_matches(flag_type: str, value: object) -> bool:
    """Return whether a value has the JSON type a flag of `flag_type` serves."""
    if flag_type == "boolean":
        return isinstance(value, bool)
    if flag_type == "string":
        return isinstance(value, str)
    if flag_type == "number":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and is_json_value(value)
        )
    return is_json_value(value)


def _require(ok: bool, path: str, message: str) -> None:
    if not ok:
        raise ConfigError(path, message)


def _check_percent(value: float, path: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100
    _require(ok, path, "must be a number in [0, 100]")


def _check_unique(keys: Iterable[str], path: str, what: str) -> None:
    duplicates = sorted(k for k, n in Counter(keys).items() if n > 1)
    _require(not duplicates, path, f"duplicate {what}: {duplicates}")


def _check_refs(condition: Condition | None, segments: Mapping[str, Segment], path: str) -> None:
    if condition is not None:
        missing = sorted(segment_refs(condition) - set(segments))
        _require(not missing, path, f"unknown segments {missing}")


def _check_variants(experiment: Experiment, path: str) -> None:
    variants = experiment.variants
    _require(len(variants) > 0, f"{path}.variants", "needs at least one variant")
    _check_unique((v.key for v in variants), f"{path}.variants", "variant keys")
    _check_unique((str(v.group_id) for v in variants), f"{path}.variants", "group ids")
    for i, variant in enumerate(variants):
        where = f"{path}.variants[{i}]"
        _require(bool(variant.key), f"{where}.key", "must be a non-empty string")
        _require(variant.group_id >= 0, f"{where}.group_id", "must be >= 0 (-1 means default)")
        weight_ok = math.isfinite(variant.weight) and variant.weight >= 0
        _require(weight_ok, f"{where}.weight", "must be a finite number >= 0")
        bad = [k for k, v in variant.params.items() if not isinstance(v, str)]
        _require(not bad, f"{where}.params", f"values must be strings: {bad}")
    total = math.fsum(v.weight for v in variants)
    _require(total > 0, f"{path}.variants", "weights must have a positive sum")


def _check_experiments(config: ProjectConfig) -> None:
    _check_unique((e.id for e in config.experiments), "experiments", "experiment ids")
    _check_unique((e.key for e in config.experiments), "experiments", "experiment keys")
    layer_keys = {layer.key for layer in config.layers}
    for i, experiment in enumerate(config.experiments):
        path = f"experiments[{i}]"
        _require(bool(experiment.id and experiment.key), path, "id and key must be non-empty")
        _require(experiment.status in EXPERIMENT_STATUSES, f"{path}.status", "unknown status")
        _check_percent(experiment.traffic_percent, f"{path}.traffic_percent")
        if experiment.layer_key is None:
            clash = experiment.key in layer_keys
            _require(not clash, f"{path}.key", "its implicit layer clashes with a layer key")
        else:
            _require(experiment.layer_key in layer_keys, f"{path}.layer_key", "unknown layer")
        audience = experiment.audience_id
        known = audience is None or audience in config.audiences
        _require(known, f"{path}.audience_id", f"unknown audience {audience!r}")
        _check_refs(experiment.conditions, config.segments, f"{path}.conditions")
        _check_variants(experiment, path)


def _check_ranges(layer: Layer, path: str) -> None:
    taken: list[BucketRange] = []
    for experiment_id, ranges in layer.allocations.items():
        for start, end in ranges:
            ok = 0 <= start < end <= BUCKETS
            _require(ok, f"{path}.allocations.{experiment_id}", f"bad range [{start}, {end})")
            taken.append((start, end))
    taken.sort()
    for (_, end), (start, _) in pairwise(taken):
        _require(end <= start, f"{path}.allocations", "ranges overlap")


def _check_layers(config: ProjectConfig) -> None:
    _check_unique((layer.key for layer in config.layers), "layers", "layer keys")
    experiments = {e.id: e for e in config.experiments}
    for i, layer in enumerate(config.layers):
        path = f"layers[{i}]"
        _require(bool(layer.key), f"{path}.key", "must be a non-empty string")
        _check_ranges(layer, path)
        for experiment_id, ranges in layer.allocations.items():
            where = f"{path}.allocations.{experiment_id}"
            experiment = experiments.get(experiment_id)
            if experiment is None:
                raise ConfigError(where, "unknown experiment")
            _require(experiment.layer_key == layer.key, where, "experiment is in another layer")
            size, wanted = sum(end - start for start, end in ranges), experiment.traffic_percent
            ok = size == percent_to_buckets(wanted)
            _require(ok, where, f"{size} buckets allocated but traffic_percent is {wanted}")
        for experiment in experiments.values():
            unallocated = experiment.id not in layer.allocations
            needs = experiment.layer_key == layer.key and experiment.status == "running"
            if needs and unallocated and percent_to_buckets(experiment.traffic_percent) > 0:
                raise ConfigError(path, f"running experiment {experiment.key!r} has no allocation")


def _check_flags(config: ProjectConfig) -> None:
    _check_unique((f.key for f in config.flags), "flags", "flag keys")
    experiment_ids = {e.id for e in config.experiments}
    for i, flag in enumerate(config.flags):
        path = f"flags[{i}]"
        _require(bool(flag.key), f"{path}.key", "must be a non-empty string")
        _require(flag.type in FLAG_TYPES, f"{path}.type", f"must be one of {sorted(FLAG_TYPES)}")
        ok = flag_value_matches(flag.type, flag.default_value)
        _require(ok, f"{path}.default_value", f"is not a {flag.type} value")
        if flag.experiment_id is not None:
            known = flag.experiment_id in experiment_ids
            _require(known, f"{path}.experiment_id", "unknown experiment")
            _require(bool(flag.experiment_param), f"{path}.experiment_param", "is required")
        for j, rule in enumerate(flag.rules):
            where = f"{path}.rules[{j}]"
            ok = flag_value_matches(flag.type, rule.value)
            _require(ok, f"{where}.value", f"is not a {flag.type} value")
            _check_percent(rule.rollout_percent, f"{where}.rollout_percent")
            audience = rule.audience_id
            known = audience is None or audience in config.audiences
            _require(known, f"{where}.audience_id", f"unknown audience {audience!r}")
            _check_refs(rule.conditions, config.segments, f"{where}.conditions")


def _check_segments(config: ProjectConfig) -> None:
    definitions: dict[str, SegmentDefinition] = {}
    for segment_id, segment in config.segments.items():
        path = f"segments.{segment_id}"
        one = (segment.unit_ids is None) != (segment.conditions is None)
        _require(one, path, "needs exactly one of unit_ids and conditions")
        _check_refs(segment.conditions, config.segments, f"{path}.conditions")
        if segment.unit_ids is not None:
            definitions[segment_id] = segment.unit_ids
        elif segment.conditions is not None:
            definitions[segment_id] = segment.conditions
    compile_segments(definitions)  # raises on cycles


def _all_salts(config: ProjectConfig) -> list[str]:
    salts = [config.holdout_salt]
    salts += [layer.salt for layer in config.layers]
    salts += [e.salt for e in config.experiments]
    salts += [implicit_layer_salt(e) for e in config.experiments if e.layer_key is None]
    salts += [f.salt for f in config.flags]
    return salts


def validate_config(config: ProjectConfig) -> None:
    """Raise ConfigError unless every reference resolves and every invariant holds."""
    _require(bool(config.project_id), "project_id", "must be a non-empty string")
    _require(bool(config.project_key), "project_key", "must be a non-empty string")
    _check_percent(config.holdout_percent, "holdout_percent")
    _require(config.revision >= 0, "revision", "must be >= 0")
    salts = _all_salts(config)
    _require(all(salts), "salts", "every salt must be a non-empty string")
    # A shared salt would correlate two hashes that must be independent.
    _check_unique(salts, "salts", "salts (holdout, layer, experiment and flag salts differ)")
    for audience_id, condition in config.audiences.items():
        _check_refs(condition, config.segments, f"audiences.{audience_id}")
    _check_segments(config)
    _check_experiments(config)
    _check_layers(config)
    _check_flags(config)
