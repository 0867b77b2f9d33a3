"""Condition trees: a typed, validated model of the JSON rules of audiences and flags.

JSON forms: `{"attribute": a, "operator": op, "value": v}` (or `"values": [..]` for
`in` / `not_in`), `{"all": [..]}`, `{"any": [..]}`, `{"not": {..}}`, `{"segment": id}`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard

from avsb_sdk.evaluation.errors import ConfigError
from avsb_sdk.evaluation.patterns import MAX_PATTERN_LENGTH, pattern_problem
from avsb_sdk.evaluation.semver import parse_semver
from avsb_sdk.evaluation.values import canonical_string, parse_number

__all__ = [
    "MAX_DEPTH",
    "MAX_REGEX_LENGTH",
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Condition",
    "InSegment",
    "Leaf",
    "Not",
    "Scalar",
    "condition_to_dict",
    "parse_condition",
    "segment_refs",
]

Scalar: TypeAlias = str | int | float | bool

EQUALITY_OPERATORS = frozenset({"eq", "neq", "contains"})
SET_OPERATORS = frozenset({"in", "not_in"})
NUMERIC_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
SEMVER_OPERATORS = frozenset({"semver_eq", "semver_gt", "semver_gte", "semver_lt", "semver_lte"})
OPERATORS = (
    EQUALITY_OPERATORS
    | SET_OPERATORS
    | NUMERIC_OPERATORS
    | SEMVER_OPERATORS
    | frozenset({"regex", "exists"})
)
MAX_DEPTH = 32
"""Deepest nesting of all/any/not accepted."""
MAX_REGEX_LENGTH = MAX_PATTERN_LENGTH
"""Longest regex pattern accepted, in characters."""


@dataclass(frozen=True, slots=True)
class Leaf:
    """One comparison of a unit attribute: `values` for in/not_in, else `value`."""

    attribute: str
    operator: str
    value: Scalar | None = None
    values: tuple[Scalar, ...] | None = None


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every child is true (an empty list is true)."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when some child is true (an empty list is false)."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """True when the child is false."""

    condition: Condition


@dataclass(frozen=True, slots=True)
class InSegment:
    """True when the unit belongs to the segment."""

    segment_id: str


Condition: TypeAlias = Leaf | AllOf | AnyOf | Not | InSegment


def _is_scalar(value: object) -> TypeGuard[Scalar]:
    return isinstance(value, str | int | float) and canonical_string(value) is not None


def _check_value(operator: str, value: object, path: str) -> Scalar:
    if not _is_scalar(value):
        raise ConfigError(path, f"operator {operator!r} needs a string, number or bool 'value'")
    if operator in NUMERIC_OPERATORS and parse_number(value) is None:
        raise ConfigError(path, f"operator {operator!r} needs a numeric value, got {value!r}")
    if operator in SEMVER_OPERATORS and (not isinstance(value, str) or parse_semver(value) is None):
        raise ConfigError(path, f"operator {operator!r} needs a version string, got {value!r}")
    if operator == "regex":
        if not isinstance(value, str) or len(value) > MAX_REGEX_LENGTH:
            message = f"regex must be a string of at most {MAX_REGEX_LENGTH} chars"
            raise ConfigError(f"{path}.value", message)
        problem = pattern_problem(value)  # RE2: matching takes time linear in the input
        if problem is not None:
            raise ConfigError(f"{path}.value", f"invalid regex {value!r}: {problem}")
    return value


def _parse_leaf(data: Mapping[str, object], path: str) -> Leaf:
    allowed = {"attribute", "operator", "value", "values"}
    extra = set(data) - allowed
    if extra:
        raise ConfigError(path, f"unexpected keys {sorted(extra)}")
    attribute, operator = data.get("attribute"), data.get("operator")
    if not isinstance(attribute, str) or not attribute:
        raise ConfigError(f"{path}.attribute", "must be a non-empty string")
    if not isinstance(operator, str) or operator not in OPERATORS:
        raise ConfigError(f"{path}.operator", f"must be one of {sorted(OPERATORS)}")
    if operator in SET_OPERATORS:
        values = data.get("values")
        if "value" in data or not isinstance(values, list):
            raise ConfigError(path, f"operator {operator!r} needs a list 'values'")
        checked = tuple(_check_value(operator, v, f"{path}.values") for v in values)
        return Leaf(attribute, operator, values=checked)
    if "values" in data:
        raise ConfigError(path, f"operator {operator!r} takes 'value', not 'values'")
    if operator == "exists":
        flag = data.get("value", True)
        if not isinstance(flag, bool):
            raise ConfigError(f"{path}.value", "exists takes an optional boolean value")
        return Leaf(attribute, operator, value=flag)
    return Leaf(attribute, operator, value=_check_value(operator, data.get("value"), path))


def _parse_children(data: object, path: str, depth: int) -> tuple[Condition, ...]:
    if not isinstance(data, list):
        raise ConfigError(path, "must be a list of conditions")
    return tuple(_parse(child, f"{path}[{i}]", depth + 1) for i, child in enumerate(data))


def _parse(data: object, path: str, depth: int) -> Condition:
    if depth > MAX_DEPTH:
        raise ConfigError(path, f"conditions nest deeper than {MAX_DEPTH}")
    if not isinstance(data, Mapping):
        raise ConfigError(path, "must be an object")
    if "attribute" in data or "operator" in data:
        return _parse_leaf(data, path)
    if len(data) != 1:
        raise ConfigError(path, "must have exactly one of all, any, not, segment, attribute")
    ((kind, body),) = data.items()
    if kind == "all":
        return AllOf(_parse_children(body, f"{path}.all", depth))
    if kind == "any":
        return AnyOf(_parse_children(body, f"{path}.any", depth))
    if kind == "not":
        return Not(_parse(body, f"{path}.not", depth + 1))
    if kind == "segment":
        if not isinstance(body, str) or not body:
            raise ConfigError(f"{path}.segment", "must be a segment id")
        return InSegment(body)
    raise ConfigError(path, f"unknown condition {kind!r}")


def parse_condition(data: object, path: str = "conditions") -> Condition:
    """Validate a JSON condition tree and return its typed form; raises ConfigError."""
    return _parse(data, path, 0)


def condition_to_dict(condition: Condition) -> dict[str, object]:
    """Return the JSON form of a condition tree (inverse of parse_condition)."""
    if isinstance(condition, Leaf):
        out: dict[str, object] = {"attribute": condition.attribute, "operator": condition.operator}
        if condition.values is not None:
            out["values"] = list(condition.values)
        else:
            out["value"] = condition.value
        return out
    if isinstance(condition, AllOf):
        return {"all": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, AnyOf):
        return {"any": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, Not):
        return {"not": condition_to_dict(condition.condition)}
    return {"segment": condition.segment_id}


def _walk(condition: Condition) -> Iterator[Condition]:
    yield condition
    if isinstance(condition, AllOf | AnyOf):
        for child in condition.conditions:
            yield from _walk(child)
    elif isinstance(condition, Not):
        yield from _walk(condition.condition)


def segment_refs(condition: Condition) -> frozenset[str]:
    """Return the ids of the segments a condition tree refers to."""
    return frozenset(c.segment_id for c in _walk(condition) if isinstance(c, InSegment))
