"""The evaluator: compile a ProjectConfig once, then assign units and resolve flags.

`evaluate()` is the recipe: enrich the unit, check the holdout, assign one experiment
per layer, resolve the flags. Everything a call needs is precomputed by compile_config:
salts as byte prefixes, a bucket -> experiment table per layer, cumulative variant
ends, condition closures, and every possible answer as a ready object.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType

from avsb_sdk.evaluation.conditions import Condition
from avsb_sdk.evaluation.config import (
    BucketRange,
    Experiment,
    Flag,
    ProjectConfig,
    implicit_layer_salt,
    validate_config,
)
from avsb_sdk.evaluation.flags import CompiledFlag, resolve_flag, resolve_flag_anonymous
from avsb_sdk.evaluation.hashing import (
    BUCKETS,
    bucket_of,
    percent_to_buckets,
    salt_hasher,
    variant_ends,
)
from avsb_sdk.evaluation.results import (
    Assignment,
    AssignmentReason,
    ErrorCode,
    Evaluation,
    FlagValue,
    Reason,
)
from avsb_sdk.evaluation.targeting import (
    Attributes,
    Predicate,
    SegmentDefinition,
    compile_condition,
    compile_segments,
)

__all__ = [
    "CompiledConfig",
    "assign_experiments",
    "compile_config",
    "evaluate",
    "evaluate_flags",
]

_NO_ATTRIBUTES: Attributes = MappingProxyType({})


class _CompiledExperiment:
    __slots__ = ("assignments", "ends", "hasher", "id", "key", "predicate")

    def __init__(self, experiment: Experiment, layer_key: str, predicate: Predicate | None) -> None:
        self.id = experiment.id
        self.key = experiment.key
        self.hasher = salt_hasher(experiment.salt)
        self.predicate = predicate
        self.ends = variant_ends([v.weight for v in experiment.variants])
        self.assignments = tuple(
            Assignment(
                layer_key,
                experiment.id,
                experiment.key,
                v.key,
                v.group_id,
                MappingProxyType(dict(v.params)),
                True,
                AssignmentReason.ASSIGNED,
            )
            for v in experiment.variants
        )


class _CompiledLayer:
    __slots__ = (
        "experiment_keys",
        "filtered",
        "hasher",
        "holdout",
        "key",
        "owners",
        "unallocated",
        "untargeted",
    )

    def __init__(
        self, key: str, salt: str, owned: Iterable[tuple[_CompiledExperiment, int, int]]
    ) -> None:
        self.key = key
        self.hasher = salt_hasher(salt)
        owners: list[_CompiledExperiment | None] = [None] * BUCKETS
        for experiment, start, end in owned:
            owners[start:end] = [experiment] * (end - start)
        self.owners = tuple(owners)
        self.experiment_keys = frozenset(e.key for e in owners if e is not None)
        self.holdout = Assignment.default(key, AssignmentReason.HOLDOUT)
        self.unallocated = Assignment.default(key, AssignmentReason.NOT_IN_TRAFFIC)
        self.untargeted = Assignment.default(key, AssignmentReason.NOT_IN_AUDIENCE)
        self.filtered = Assignment.default(key, AssignmentReason.FILTERED)


class CompiledConfig:
    """A validated project config compiled for evaluation; immutable and thread-safe."""

    __slots__ = (
        "_experiments",
        "_flags",
        "_holdout_hasher",
        "_holdout_threshold",
        "_layers",
        "config",
    )

    def __init__(
        self,
        config: ProjectConfig,
        layers: Mapping[str, _CompiledLayer],
        flags: Mapping[str, CompiledFlag],
    ) -> None:
        """Use compile_config(); this only stores what it built."""
        self.config = config
        self._layers = dict(layers)
        self._flags = dict(flags)
        self._holdout_hasher = salt_hasher(config.holdout_salt)
        self._holdout_threshold = percent_to_buckets(config.holdout_percent)

    @property
    def project_id(self) -> str:
        """Return the project id."""
        return self.config.project_id

    @property
    def revision(self) -> int:
        """Return the server's revision counter of the config (>= 0)."""
        return self.config.revision

    @property
    def layer_keys(self) -> tuple[str, ...]:
        """Return the keys of the layers units are assigned in, in config order."""
        return tuple(self._layers)

    @property
    def flag_keys(self) -> tuple[str, ...]:
        """Return the flag keys, in config order."""
        return tuple(self._flags)


class _Targeting:
    """Compiled segments and audiences, turning (audience id, conditions) into a predicate."""

    __slots__ = ("audiences", "segments")

    def __init__(self, config: ProjectConfig) -> None:
        definitions: dict[str, SegmentDefinition] = {}
        for key, segment in config.segments.items():
            definition = segment.unit_ids if segment.unit_ids is not None else segment.conditions
            if definition is not None:
                definitions[key] = definition
        self.segments = compile_segments(definitions)
        self.audiences = {
            k: compile_condition(c, self.segments) for k, c in config.audiences.items()
        }

    def predicate(self, audience_id: str | None, conditions: Condition | None) -> Predicate | None:
        """Return the predicate of an audience and inline conditions (both when both are set)."""
        audience = self.audiences[audience_id] if audience_id is not None else None
        inline = compile_condition(conditions, self.segments) if conditions is not None else None
        if audience is None or inline is None:
            return audience or inline

        def both(attributes: Attributes, unit_id: str) -> bool:
            return audience(attributes, unit_id) and inline(attributes, unit_id)

        return both


def _layer_plan(
    config: ProjectConfig,
) -> list[tuple[str, str, Mapping[str, tuple[BucketRange, ...]]]]:
    """Return (key, salt, allocations) of every layer: explicit ones, then implicit ones."""
    plan = [(layer.key, layer.salt, layer.allocations) for layer in config.layers]
    for e in config.experiments:
        if e.layer_key is None and e.status == "running":
            ranges = ((0, percent_to_buckets(e.traffic_percent)),)
            plan.append((e.key, implicit_layer_salt(e), {e.id: ranges}))
    return plan


def _compile_layers(
    config: ProjectConfig, targeting: _Targeting
) -> tuple[dict[str, _CompiledLayer], dict[str, tuple[str, _CompiledExperiment]]]:
    """Return the layers by key and the running experiments by id with their layer key."""
    running = {e.id: e for e in config.experiments if e.status == "running"}
    layers: dict[str, _CompiledLayer] = {}
    compiled: dict[str, tuple[str, _CompiledExperiment]] = {}
    for key, salt, allocations in _layer_plan(config):
        owned: list[tuple[_CompiledExperiment, int, int]] = []
        for experiment_id, ranges in allocations.items():
            experiment = running.get(experiment_id)
            if experiment is None:
                continue  # a paused experiment keeps its buckets: nobody else gets them
            predicate = targeting.predicate(experiment.audience_id, experiment.conditions)
            ce = _CompiledExperiment(experiment, key, predicate)
            compiled[experiment.id] = (key, ce)
            owned += [(ce, start, end) for start, end in ranges if start < end]
        layers[key] = _CompiledLayer(key, salt, owned)
    return layers, compiled


def _compile_flag(
    flag: Flag,
    targeting: _Targeting,
    experiments: Mapping[str, tuple[str, _CompiledExperiment]],
) -> CompiledFlag:
    rules = tuple(
        (targeting.predicate(rule.audience_id, rule.conditions), rule.rollout_percent)
        for rule in flag.rules
    )
    bound = experiments.get(flag.experiment_id or "")
    variants = (bound[0], bound[1].assignments) if bound is not None else None
    return CompiledFlag(flag, rules, variants)


def compile_config(config: ProjectConfig) -> CompiledConfig:
    """Validate and compile a project config for evaluation; raises ConfigError."""
    validate_config(config)
    targeting = _Targeting(config)
    layers, experiments = _compile_layers(config, targeting)
    flags = {f.key: _compile_flag(f, targeting, experiments) for f in config.flags}
    return CompiledConfig(config, layers, flags)


class _Unit:
    """The enriched unit of one call: its id, UTF-8 bytes and attributes."""

    __slots__ = ("attributes", "id", "raw")

    def __init__(self, unit_id: str, attributes: Attributes | None) -> None:
        self.id = unit_id
        self.raw = unit_id.encode("utf-8", "surrogatepass")
        if type(attributes) is not dict and not isinstance(attributes, Mapping):
            attributes = _NO_ATTRIBUTES  # None, or not a mapping at all: no attributes
        self.attributes = attributes


def _in_holdout(compiled: CompiledConfig, unit: _Unit) -> bool:
    threshold = compiled._holdout_threshold
    return threshold > 0 and bucket_of(compiled._holdout_hasher, unit.raw) < threshold


def _assign(
    layer: _CompiledLayer, unit: _Unit, held_out: bool, only: Collection[str] | None
) -> Assignment:
    if held_out:
        return layer.holdout
    experiment = layer.owners[bucket_of(layer.hasher, unit.raw)]
    if experiment is None:
        return layer.unallocated
    if only is not None and experiment.key not in only:
        return layer.filtered
    predicate = experiment.predicate
    if predicate is not None and not predicate(unit.attributes, unit.id):
        return layer.untargeted
    variant_bucket = bucket_of(experiment.hasher, unit.raw)
    return experiment.assignments[bisect_right(experiment.ends, variant_bucket)]


class _LazyAssignments(dict[str, Assignment]):
    """Assigns a layer only when a bound flag first asks for it."""

    __slots__ = ("_compiled", "_held_out", "_unit")

    def __init__(self, compiled: CompiledConfig, unit: _Unit) -> None:
        super().__init__()
        self._compiled = compiled
        self._unit = unit
        self._held_out: bool | None = None

    def __missing__(self, layer_key: str) -> Assignment:
        if self._held_out is None:
            self._held_out = _in_holdout(self._compiled, self._unit)
        assignment = _assign(self._compiled._layers[layer_key], self._unit, self._held_out, None)
        self[layer_key] = assignment
        return assignment


def assign_experiments(
    compiled: CompiledConfig,
    unit_id: str,
    attributes: Attributes | None = None,
    *,
    layer_keys: Collection[str] | None = None,
    experiment_keys: Collection[str] | None = None,
) -> dict[str, Assignment]:
    """Return the assignment of a unit in every layer (or the filtered ones), by layer key."""
    unit = _Unit(unit_id, attributes)
    held_out = _in_holdout(compiled, unit)
    layers: Iterable[_CompiledLayer] = compiled._layers.values()
    if layer_keys is not None:
        layers = [compiled._layers[k] for k in dict.fromkeys(layer_keys) if k in compiled._layers]
    only = frozenset(experiment_keys) if experiment_keys is not None else None
    if only is not None:
        layers = [layer for layer in layers if not layer.experiment_keys.isdisjoint(only)]
    return {layer.key: _assign(layer, unit, held_out, only) for layer in layers}


def _flags_for(
    compiled: CompiledConfig,
    unit: _Unit,
    assignments: Mapping[str, Assignment],
    names: Iterable[str] | None,
) -> dict[str, FlagValue]:
    flags = compiled._flags
    attributes, unit_id, raw = unit.attributes, unit.id, unit.raw
    if names is None:
        return {k: resolve_flag(f, assignments, attributes, unit_id, raw) for k, f in flags.items()}
    out: dict[str, FlagValue] = {}
    for name in names:
        flag = flags.get(name)
        if flag is None:
            out[name] = FlagValue(name, None, Reason.ERROR, None, ErrorCode.FLAG_NOT_FOUND)
        else:
            out[name] = resolve_flag(flag, assignments, attributes, unit_id, raw)
    return out


def evaluate_flags(
    compiled: CompiledConfig,
    unit_id: str,
    attributes: Attributes | None = None,
    names: Iterable[str] | None = None,
) -> dict[str, FlagValue]:
    """Return the value of every flag (or of `names`; unknown ones are FLAG_NOT_FOUND errors)."""
    unit = _Unit(unit_id, attributes)
    return _flags_for(compiled, unit, _LazyAssignments(compiled, unit), names)


def evaluate_flags_anonymous(
    compiled: CompiledConfig,
    attributes: Attributes | None = None,
    names: Iterable[str] | None = None,
) -> dict[str, FlagValue]:
    """Return the value of every flag (or of `names`) for a unit without an id: values that
    need no bucketing, TARGETING_KEY_MISSING errors for those that do (flags.py)."""
    if type(attributes) is not dict and not isinstance(attributes, Mapping):
        attributes = _NO_ATTRIBUTES
    flags = compiled._flags
    out: dict[str, FlagValue] = {}
    for name in flags if names is None else names:
        flag = flags.get(name)
        if flag is None:
            out[name] = FlagValue(name, None, Reason.ERROR, None, ErrorCode.FLAG_NOT_FOUND)
        else:
            out[name] = resolve_flag_anonymous(flag, attributes)
    return out


def evaluate(
    compiled: CompiledConfig, unit_id: str, attributes: Attributes | None = None
) -> Evaluation:
    """Return every layer's assignment and every flag's value for one unit."""
    unit = _Unit(unit_id, attributes)  # 1. enrich the unit
    held_out = _in_holdout(compiled, unit)  # 2. the project holdout
    assignments = {  # 3. one experiment (or the default) per layer
        key: _assign(layer, unit, held_out, None) for key, layer in compiled._layers.items()
    }
    flags = _flags_for(compiled, unit, assignments, None)  # 4. flags, reading the assignments
    return Evaluation(unit_id, held_out, MappingProxyType(assignments), MappingProxyType(flags))
