"""Flags compiled once into precomputed answers, so serving one allocates nothing.

Order of resolution: kill switch (DISABLED), the bound experiment's variant (SPLIT),
the first matching rule in the rollout (TARGETING_MATCH, or SPLIT below 100%), the
default (DEFAULT, or STATIC for a flag with neither rules nor experiment).

A number flag is a float flag when any value it can answer (default, rule values, the
bound experiment's params) is a float; all its answers are then floats (`7.0`), and an
integer flag's all integers, so a typed client never sees both.
A unit without an id (an anonymous visitor) gets every value that needs no bucketing
(`resolve_flag_anonymous`); TARGETING_KEY_MISSING only where a rollout or an experiment
would have to bucket it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import cast

from avsb_sdk.evaluation.config import Flag
from avsb_sdk.evaluation.hashing import BUCKETS, bucket_of, percent_to_buckets, salt_hasher
from avsb_sdk.evaluation.results import Assignment, ErrorCode, FlagValue, Reason
from avsb_sdk.evaluation.targeting import Predicate
from avsb_sdk.evaluation.values import JsonValue, is_json_value, parse_number

__all__ = ["CompiledFlag", "convert_param", "resolve_flag", "resolve_flag_anonymous"]

_INTEGER = re.compile(r"[+-]?\d{1,15}", re.ASCII)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

CompiledRule = tuple[Predicate | None, int, FlagValue]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def convert_param(flag_type: str, text: str) -> JsonValue:
    """Return an experiment param (a string) as a flag's type; raises ValueError if it cannot.

    boolean: true/false/1/0/yes/no/on/off (any case); number: a finite decimal (an int
    when written as one); json: parsed JSON (no NaN/Infinity); string: as is.
    """
    if flag_type == "string":
        return text
    stripped = text.strip()
    if flag_type == "boolean":
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a boolean")
    if flag_type == "number":
        number = int(stripped) if _INTEGER.fullmatch(stripped) else parse_number(stripped)
        if number is None:
            raise ValueError(f"{text!r} is not a number")
        return number
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nests too deep") from None
    if not is_json_value(value):
        raise ValueError("JSON nests too deep")
    return cast(JsonValue, value)


class CompiledFlag:
    """A flag with every possible answer built in advance."""

    __slots__ = (
        "by_variant",
        "disabled",
        "enabled",
        "experiment_id",
        "fallback",
        "hasher",
        "key",
        "layer_key",
        "needs_key",
        "rules",
    )

    def __init__(
        self,
        flag: Flag,
        rules: tuple[tuple[Predicate | None, float], ...],
        bound: tuple[str, tuple[Assignment, ...]] | None,
    ) -> None:
        """Compile `flag` given its rules' predicates and, if bound, (layer key, assignments)."""
        self.key = flag.key
        self.enabled = flag.enabled
        self.hasher = salt_hasher(flag.salt)
        self.disabled = FlagValue(flag.key, flag.default_value, Reason.DISABLED, "default")
        static = not flag.rules and bound is None
        reason = Reason.STATIC if static else Reason.DEFAULT
        self.fallback = FlagValue(flag.key, flag.default_value, reason, "default")
        self.rules: tuple[CompiledRule, ...] = tuple(
            (predicate, percent_to_buckets(percent), _rule_value(flag, i, percent))
            for i, (predicate, percent) in enumerate(rules)
        )
        self.experiment_id = flag.experiment_id if bound is not None else None
        self.layer_key = bound[0] if bound is not None else None
        by_variant = {a.variant_key: _variant_value(flag, a) for a in (bound[1] if bound else ())}
        if flag.type == "number" and _any_float(
            (
                flag.default_value,
                *(r.value for r in flag.rules),
                *(v.value for v in by_variant.values()),
            )
        ):
            self.disabled, self.fallback = _as_float(self.disabled), _as_float(self.fallback)
            self.rules = tuple((p, t, _as_float(v)) for p, t, v in self.rules)
            by_variant = {k: _as_float(v) for k, v in by_variant.items()}
        self.by_variant: Mapping[str, FlagValue] = MappingProxyType(by_variant)
        self.needs_key = FlagValue(
            flag.key,
            self.fallback.value,
            Reason.ERROR,
            None,
            ErrorCode.TARGETING_KEY_MISSING,
        )


def _any_float(values: Iterable[JsonValue]) -> bool:
    return any(isinstance(v, float) for v in values)


def _as_float(flag: FlagValue) -> FlagValue:
    """The same answer with an integer value as a float (bools and non-numbers unchanged)."""
    value = flag.value
    if isinstance(value, int) and not isinstance(value, bool):
        return replace(flag, value=float(value))
    return flag


def _rule_value(flag: Flag, index: int, percent: float) -> FlagValue:
    reason = Reason.SPLIT if percent_to_buckets(percent) < BUCKETS else Reason.TARGETING_MATCH
    return FlagValue(flag.key, flag.rules[index].value, reason, f"rule_{index}")


def _variant_value(flag: Flag, assignment: Assignment) -> FlagValue:
    param = assignment.params.get(flag.experiment_param or "")
    if param is None:  # a variant without the param serves the default, in the experiment
        value: JsonValue = flag.default_value
    else:
        try:
            value = convert_param(flag.type, param)
        except ValueError:
            code = ErrorCode.PARSE_ERROR if flag.type == "json" else ErrorCode.TYPE_MISMATCH
            return FlagValue(
                flag.key, flag.default_value, Reason.ERROR, None, code, experiment=assignment
            )
    return FlagValue(flag.key, value, Reason.SPLIT, assignment.variant_key, None, assignment)


def resolve_flag(
    flag: CompiledFlag,
    assignments: Mapping[str, Assignment],
    attributes: Mapping[str, object],
    unit_id: str,
    unit: bytes,
) -> FlagValue:
    """Return a flag's value for a unit (`unit` = its UTF-8 id) given its layer assignments."""
    if not flag.enabled:
        return flag.disabled
    if flag.layer_key is not None:
        assignment = assignments[flag.layer_key]
        if assignment.assigned and assignment.experiment_id == flag.experiment_id:
            return flag.by_variant[assignment.variant_key]
    rollout_bucket = -1
    for predicate, threshold, value in flag.rules:
        if predicate is not None and not predicate(attributes, unit_id):
            continue
        if threshold < BUCKETS:
            if rollout_bucket < 0:
                rollout_bucket = bucket_of(flag.hasher, unit)
            if rollout_bucket >= threshold:
                continue
        return value
    return flag.fallback


def resolve_flag_anonymous(flag: CompiledFlag, attributes: Mapping[str, object]) -> FlagValue:
    """Return a flag's value for a unit without an id: as `resolve_flag`, except that where
    the answer needs the unit's bucket (a running bound experiment, a matching rule with a
    rollout below 100%) it is a TARGETING_KEY_MISSING error."""
    if not flag.enabled:
        return flag.disabled
    if flag.layer_key is not None:
        return flag.needs_key
    for predicate, threshold, value in flag.rules:
        if predicate is not None and not predicate(attributes, ""):
            continue
        return value if threshold >= BUCKETS else flag.needs_key
    return flag.fallback
