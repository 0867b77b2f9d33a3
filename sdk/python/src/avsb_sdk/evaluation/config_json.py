"""The versioned JSON form of ProjectConfig: what `GET /api/sdk/config` serves and SDKs load.

Unknown keys are ignored so a server may add fields within a schema version; a
missing or mistyped known key raises ConfigError naming its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from avsb_sdk.evaluation.conditions import Condition, condition_to_dict, parse_condition
from avsb_sdk.evaluation.config import (
    SCHEMA_VERSION,
    BucketRange,
    Experiment,
    Flag,
    FlagRule,
    Layer,
    ProjectConfig,
    Segment,
    Variant,
    validate_config,
)
from avsb_sdk.evaluation.errors import ConfigError
from avsb_sdk.evaluation.values import JsonValue, is_json_value

__all__ = ["config_from_dict", "config_to_dict"]

_MISSING: Any = object()


class _Reader:
    """Typed access to one JSON object, with the path of each field for error messages."""

    __slots__ = ("data", "path")

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(path, "must be an object")
        self.data: Mapping[str, object] = data
        self.path = path

    def _get(self, key: str, default: object) -> object:
        value = self.data.get(key, default)
        if value is _MISSING:
            raise ConfigError(self._at(key), "is required")
        return value

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def text(self, key: str) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str) or not value:
            raise ConfigError(self._at(key), "must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else self.text(key)

    def number(self, key: str, default: float = _MISSING) -> float:
        value = self._get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(self._at(key), "must be a number")
        return value

    def integer(self, key: str, default: int = _MISSING) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(self._at(key), "must be an integer")
        return value

    def boolean(self, key: str, default: bool = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(self._at(key), "must be true or false")
        return value

    def items(self, key: str) -> list[_Reader]:
        value = self._get(key, [])
        if not isinstance(value, list):
            raise ConfigError(self._at(key), "must be a list")
        return [_Reader(item, f"{self._at(key)}[{i}]") for i, item in enumerate(value)]

    def mapping(self, key: str) -> Mapping[str, object]:
        value = self._get(key, {})
        if not isinstance(value, Mapping):
            raise ConfigError(self._at(key), "must be an object")
        return value

    def condition(self, key: str) -> Condition | None:
        value = self.data.get(key)
        return None if value is None else parse_condition(value, self._at(key))

    def value(self, key: str) -> JsonValue:
        value = self._get(key, _MISSING)
        if not is_json_value(value):
            raise ConfigError(self._at(key), "must be a JSON value")
        return cast(JsonValue, value)


def _params(reader: _Reader) -> dict[str, str]:
    params = reader.mapping("params")
    bad = sorted(k for k, v in params.items() if not isinstance(v, str))
    if bad:
        raise ConfigError(f"{reader.path}.params", f"values must be strings: {bad}")
    return {k: str(v) for k, v in params.items()}


def _variant(r: _Reader) -> Variant:
    return Variant(r.text("key"), r.integer("group_id"), r.number("weight"), _params(r))


def _experiment(r: _Reader) -> Experiment:
    return Experiment(
        id=r.text("id"),
        key=r.text("key"),
        salt=r.text("salt"),
        status=r.text("status"),
        variants=tuple(_variant(v) for v in r.items("variants")),
        layer_key=r.optional_text("layer_key"),
        traffic_percent=r.number("traffic_percent", 100.0),
        audience_id=r.optional_text("audience_id"),
        conditions=r.condition("conditions"),
    )


def _ranges(value: object, path: str) -> tuple[BucketRange, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, "must be a list of [start, end] pairs")
    out: list[BucketRange] = []
    for pair in value:
        ok = isinstance(pair, list) and len(pair) == 2
        if not ok or not all(type(b) is int for b in pair):
            raise ConfigError(path, f"{pair!r} is not an integer [start, end] pair")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _layer(r: _Reader) -> Layer:
    allocations = r.mapping("allocations")
    ranges = {k: _ranges(v, f"{r.path}.allocations.{k}") for k, v in allocations.items()}
    return Layer(r.text("key"), r.text("salt"), ranges)


def _segment(r: _Reader) -> Segment:
    unit_ids = r.data.get("unit_ids")
    if unit_ids is None:
        return Segment(conditions=r.condition("conditions"))
    if not isinstance(unit_ids, list) or not all(isinstance(u, str) for u in unit_ids):
        raise ConfigError(f"{r.path}.unit_ids", "must be a list of strings")
    return Segment(unit_ids=frozenset(unit_ids), conditions=r.condition("conditions"))


def _rule(r: _Reader) -> FlagRule:
    return FlagRule(
        value=r.value("value"),
        audience_id=r.optional_text("audience_id"),
        conditions=r.condition("conditions"),
        rollout_percent=r.number("rollout_percent", 100.0),
    )


def _flag(r: _Reader) -> Flag:
    return Flag(
        key=r.text("key"),
        type=r.text("type"),
        salt=r.text("salt"),
        default_value=r.value("default_value"),
        enabled=r.boolean("enabled", True),
        rules=tuple(_rule(rule) for rule in r.items("rules")),
        experiment_id=r.optional_text("experiment_id"),
        experiment_param=r.optional_text("experiment_param"),
    )


def config_from_dict(data: object) -> ProjectConfig:
    """Parse and validate the JSON form of a project config; raises ConfigError."""
    r = _Reader(data, "")
    version = r.data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ConfigError("schema_version", f"unsupported {version!r}, expected {SCHEMA_VERSION}")
    audiences = r.mapping("audiences")
    segments = r.mapping("segments")
    config = ProjectConfig(
        project_id=r.text("project_id"),
        project_key=r.text("project_key"),
        holdout_salt=r.text("holdout_salt"),
        holdout_percent=r.number("holdout_percent", 0.0),
        revision=r.integer("revision", 0),
        layers=tuple(_layer(layer) for layer in r.items("layers")),
        experiments=tuple(_experiment(e) for e in r.items("experiments")),
        audiences={k: parse_condition(v, f"audiences.{k}") for k, v in audiences.items()},
        segments={k: _segment(_Reader(v, f"segments.{k}")) for k, v in segments.items()},
        flags=tuple(_flag(flag) for flag in r.items("flags")),
    )
    validate_config(config)
    return config


def _optional_condition(condition: Condition | None) -> dict[str, object] | None:
    return None if condition is None else condition_to_dict(condition)


def _experiment_to_dict(e: Experiment) -> dict[str, object]:
    return {
        "id": e.id,
        "key": e.key,
        "salt": e.salt,
        "status": e.status,
        "layer_key": e.layer_key,
        "traffic_percent": e.traffic_percent,
        "audience_id": e.audience_id,
        "conditions": _optional_condition(e.conditions),
        "variants": [
            {"key": v.key, "group_id": v.group_id, "weight": v.weight, "params": dict(v.params)}
            for v in e.variants
        ],
    }


def _flag_to_dict(f: Flag) -> dict[str, object]:
    return {
        "key": f.key,
        "type": f.type,
        "salt": f.salt,
        "default_value": f.default_value,
        "enabled": f.enabled,
        "experiment_id": f.experiment_id,
        "experiment_param": f.experiment_param,
        "rules": [
            {
                "audience_id": rule.audience_id,
                "conditions": _optional_condition(rule.conditions),
                "rollout_percent": rule.rollout_percent,
                "value": rule.value,
            }
            for rule in f.rules
        ],
    }


def _segment_to_dict(segment: Segment) -> dict[str, object]:
    if segment.unit_ids is not None:
        return {"unit_ids": sorted(segment.unit_ids)}
    return {"conditions": _optional_condition(segment.conditions)}


def config_to_dict(config: ProjectConfig) -> dict[str, object]:
    """Return the JSON form of a project config (`schema_version` 1), ready for json.dumps."""
    return {
        "schema_version": SCHEMA_VERSION,
        "revision": config.revision,
        "project_id": config.project_id,
        "project_key": config.project_key,
        "holdout_percent": config.holdout_percent,
        "holdout_salt": config.holdout_salt,
        "layers": [
            {
                "key": layer.key,
                "salt": layer.salt,
                "allocations": {
                    k: [list(r) for r in ranges] for k, ranges in layer.allocations.items()
                },
            }
            for layer in config.layers
        ],
        "experiments": [_experiment_to_dict(e) for e in config.experiments],
        "audiences": {k: condition_to_dict(c) for k, c in config.audiences.items()},
        "segments": {k: _segment_to_dict(s) for k, s in config.segments.items()},
        "flags": [_flag_to_dict(f) for f in config.flags],
    }
