"""Condition trees compiled once into closures over (attributes, unit_id) that never raise.

An attribute value is a JSON scalar or a list of them (the ABC API sends lists of
strings); a list matches a positive operator when any element does. A leaf whose
attribute is missing, null, or has no usable value is false, whatever the operator
(`exists` aside): `neq` and `not_in` need a value that differs, so wrap a leaf in
`not` for a pure negation.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable, Mapping
from typing import TypeAlias

from avsb_sdk.evaluation.conditions import (
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Not,
    parse_condition,
    segment_refs,
)
from avsb_sdk.evaluation.errors import ConfigError
from avsb_sdk.evaluation.patterns import MAX_SEARCH_LENGTH, compile_pattern
from avsb_sdk.evaluation.semver import SemverKey, parse_semver
from avsb_sdk.evaluation.values import canonical_string, parse_number

__all__ = [
    "MAX_REGEX_INPUT",
    "Attributes",
    "Predicate",
    "SegmentDefinition",
    "attributes_from_profiles",
    "compile_condition",
    "compile_segments",
    "matches",
]

Attributes: TypeAlias = Mapping[str, object]
Predicate: TypeAlias = Callable[[Attributes, str], bool]
SegmentDefinition: TypeAlias = frozenset[str] | Condition

_MEMO_SIZE = 4096
MAX_REGEX_INPUT = MAX_SEARCH_LENGTH
"""Longest attribute string a regex is run on, in characters; longer ones do not match."""

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "gt": op.gt,
    "gte": op.ge,
    "lt": op.lt,
    "lte": op.le,
}
_SEMVER: dict[str, Callable[[SemverKey, SemverKey], bool]] = {
    "semver_eq": op.eq,
    "semver_gt": op.gt,
    "semver_gte": op.ge,
    "semver_lt": op.lt,
    "semver_lte": op.le,
}


def _strings(value: object) -> list[str]:
    """Return the canonical strings of an attribute value; [] when missing or malformed."""
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            text = canonical_string(item)
            if text is not None:
                out.append(text)
        return out
    text = canonical_string(value)
    return [] if text is None else [text]


def _numbers(value: object) -> list[float]:
    if isinstance(value, list | tuple):
        return [n for n in map(parse_number, value) if n is not None]
    number = parse_number(value)
    return [] if number is None else [number]


def _always(attributes: Attributes, unit_id: str) -> bool:
    return True


def _never(attributes: Attributes, unit_id: str) -> bool:
    return False


def _compile_in(name: str, allowed: frozenset[str], negate: bool) -> Predicate:
    def test(attributes: Attributes, unit_id: str) -> bool:
        value = attributes.get(name)
        if type(value) is str:  # the common case, without building a list
            return (value not in allowed) if negate else (value in allowed)
        texts = _strings(value)
        if negate:
            return bool(texts) and allowed.isdisjoint(texts)
        return not allowed.isdisjoint(texts)

    return test


def _compile_string_test(name: str, match_one: Callable[[str], bool]) -> Predicate:
    def test(attributes: Attributes, unit_id: str) -> bool:
        value = attributes.get(name)
        if type(value) is str:
            return match_one(value)
        return any(map(match_one, _strings(value)))

    return test


def _compile_regex(name: str, pattern: str) -> Predicate:
    try:
        found = compile_pattern(pattern)  # RE2: linear in the input, never backtracks
    except ValueError as exc:  # parse_condition rejects this; a hand-built Leaf may not
        raise ConfigError(name, f"invalid regex {pattern!r}: {exc}") from None
    return _compile_string_test(name, found)


def _compile_numeric(
    name: str, compare: Callable[[float, float], bool], target: float
) -> Predicate:
    def test(attributes: Attributes, unit_id: str) -> bool:
        value = attributes.get(name)
        if type(value) is int:  # typed SDK attributes, without building a list
            return compare(value, target)
        for number in _numbers(value):  # noqa: SIM110 - a loop beats any(<genexpr>) here
            if compare(number, target):
                return True
        return False

    return test


def _compile_semver(
    name: str, compare: Callable[[SemverKey, SemverKey], bool], target: SemverKey
) -> Predicate:
    # Versions repeat across units (a few app releases), so parses are memoised per leaf;
    # the memo is bounded and deterministic, hence safe to share between threads.
    memo: dict[str, SemverKey | None] = {}

    def version(text: str) -> SemverKey | None:
        try:
            return memo[text]
        except KeyError:
            key = parse_semver(text)
            if len(memo) < _MEMO_SIZE:
                memo[text] = key
            return key

    def test(attributes: Attributes, unit_id: str) -> bool:
        for text in _strings(attributes.get(name)):
            key = version(text)
            if key is not None and compare(key, target):
                return True
        return False

    return test


def _compile_exists(name: str, wanted: bool) -> Predicate:
    def test(attributes: Attributes, unit_id: str) -> bool:
        return bool(_strings(attributes.get(name))) is wanted

    return test


def _compile_leaf(leaf: Leaf) -> Predicate:
    name, operator = leaf.attribute, leaf.operator
    if leaf.values is not None:
        allowed = frozenset(t for t in map(canonical_string, leaf.values) if t is not None)
        return _compile_in(name, allowed, negate=operator == "not_in")
    if operator == "exists":
        return _compile_exists(name, leaf.value is not False)
    target = canonical_string(leaf.value)
    if target is None:  # parse_condition rejects this; a hand-built Leaf may not
        raise ConfigError(name, f"operator {operator!r} has no usable value")
    if operator in {"eq", "neq"}:
        return _compile_in(name, frozenset({target}), negate=operator == "neq")
    if operator == "contains":
        return _compile_string_test(name, lambda text: target in text)
    if operator == "regex":
        return _compile_regex(name, target)
    if operator.startswith("semver_"):
        version = parse_semver(target)
        if version is None:
            raise ConfigError(name, f"{target!r} is not a version")
        return _compile_semver(name, _SEMVER[operator], version)
    number = parse_number(leaf.value)
    if number is None or operator not in _NUMERIC:
        raise ConfigError(name, f"operator {operator!r} cannot compare with {leaf.value!r}")
    return _compile_numeric(name, _NUMERIC[operator], number)


def _compile_all(predicates: tuple[Predicate, ...]) -> Predicate:
    if not predicates:
        return _always
    if len(predicates) == 1:
        return predicates[0]

    def test(attributes: Attributes, unit_id: str) -> bool:
        for predicate in predicates:  # noqa: SIM110 - a loop beats all(<genexpr>) here
            if not predicate(attributes, unit_id):
                return False
        return True

    return test


def _compile_any(predicates: tuple[Predicate, ...]) -> Predicate:
    if not predicates:
        return _never
    if len(predicates) == 1:
        return predicates[0]

    def test(attributes: Attributes, unit_id: str) -> bool:
        for predicate in predicates:  # noqa: SIM110 - a loop beats any(<genexpr>) here
            if predicate(attributes, unit_id):
                return True
        return False

    return test


def _compile_not(predicate: Predicate) -> Predicate:
    def test(attributes: Attributes, unit_id: str) -> bool:
        return not predicate(attributes, unit_id)

    return test


def compile_condition(condition: Condition, segments: Mapping[str, Predicate]) -> Predicate:
    """Compile a condition tree into a predicate; a segment id missing from `segments` raises."""
    if isinstance(condition, Leaf):
        return _compile_leaf(condition)
    if isinstance(condition, AllOf):
        return _compile_all(tuple(compile_condition(c, segments) for c in condition.conditions))
    if isinstance(condition, AnyOf):
        return _compile_any(tuple(compile_condition(c, segments) for c in condition.conditions))
    if isinstance(condition, Not):
        return _compile_not(compile_condition(condition.condition, segments))
    if condition.segment_id not in segments:
        raise ConfigError("segment", f"unknown segment {condition.segment_id!r}")
    return segments[condition.segment_id]


def _compile_unit_list(unit_ids: frozenset[str]) -> Predicate:
    def test(attributes: Attributes, unit_id: str) -> bool:
        return unit_id in unit_ids

    return test


def compile_segments(definitions: Mapping[str, SegmentDefinition]) -> dict[str, Predicate]:
    """Compile segments (unit-id sets or condition trees) in dependency order; cycles raise."""
    compiled: dict[str, Predicate] = {}
    visiting: list[str] = []

    def visit(segment_id: str) -> None:
        if segment_id in compiled:
            return
        if segment_id in visiting:
            cycle = " -> ".join([*visiting[visiting.index(segment_id) :], segment_id])
            raise ConfigError(f"segments.{segment_id}", f"segments refer to each other: {cycle}")
        if segment_id not in definitions:
            raise ConfigError(f"segments.{segment_id}", "unknown segment")
        definition = definitions[segment_id]
        if isinstance(definition, frozenset):
            compiled[segment_id] = _compile_unit_list(definition)
            return
        visiting.append(segment_id)
        for ref in sorted(segment_refs(definition)):
            visit(ref)
        visiting.pop()
        compiled[segment_id] = compile_condition(definition, compiled)

    for segment_id in definitions:
        visit(segment_id)
    return compiled


def matches(
    condition: object,
    attributes: Attributes,
    unit_id: str = "",
    segments: Mapping[str, SegmentDefinition] | None = None,
) -> bool:
    """Return whether a JSON condition tree matches; compiles on every call (tests, tools)."""
    tree = parse_condition(condition)
    return compile_condition(tree, compile_segments(segments or {}))(attributes, unit_id)


def attributes_from_profiles(profiles: object) -> dict[str, object]:
    """Return attributes from ABC `profiles` (`{attr: {"user_attrs": [str]}}`); skips bad ones."""
    if not isinstance(profiles, Mapping):
        return {}
    attributes: dict[str, object] = {}
    for name, profile in profiles.items():
        if isinstance(name, str) and isinstance(profile, Mapping):
            values = profile.get("user_attrs")
            if isinstance(values, list):
                attributes[name] = values
    return attributes
