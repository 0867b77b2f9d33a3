"""Targeting against spec/targeting_cases.json, plus values that must never raise."""

from __future__ import annotations

import json
import math
import re
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from avsb_sdk.evaluation import ConfigError, attributes_from_profiles, matches
from avsb_sdk.evaluation.conditions import (
    OPERATORS,
    AllOf,
    InSegment,
    Leaf,
    condition_to_dict,
    parse_condition,
)
from avsb_sdk.evaluation.patterns import (
    MAX_PATTERN_LENGTH,
    MAX_SEARCH_LENGTH,
    compile_pattern,
    pattern_problem,
)
from avsb_sdk.evaluation.semver import parse_semver
from avsb_sdk.evaluation.targeting import SegmentDefinition, compile_condition, compile_segments
from avsb_sdk.evaluation.values import canonical_string, parse_number

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "spec" / "targeting_cases.json").read_text("utf-8")
)


def _segments() -> dict[str, SegmentDefinition]:
    out: dict[str, SegmentDefinition] = {}
    for key, segment in SPEC["segments"].items():
        if "unit_ids" in segment:
            out[key] = frozenset(segment["unit_ids"])
        else:
            out[key] = parse_condition(segment["conditions"])
    return out


class TestSpecCases:
    @pytest.mark.parametrize("case", SPEC["cases"], ids=lambda c: c["name"])
    def test_matches__spec_case__expected(self, case: dict[str, Any]) -> None:
        got = matches(case["condition"], case["attributes"], case["unit_id"], _segments())
        assert got is case["expected"]

    @pytest.mark.parametrize("case", SPEC["invalid_conditions"], ids=lambda c: c["name"])
    def test_matches__invalid_condition__config_error(self, case: dict[str, Any]) -> None:
        with pytest.raises(ConfigError):
            matches(case["condition"], {}, "u1", _segments())

    def test_spec__every_operator__has_cases(self) -> None:
        def operators(node: object) -> set[str]:
            if isinstance(node, dict):
                found = {node["operator"]} if "operator" in node else set()
                return found.union(*(operators(v) for v in node.values()))
            if isinstance(node, list):
                return set().union(*(operators(v) for v in node))
            return set()

        covered = set().union(*(operators(c["condition"]) for c in SPEC["cases"]))
        assert covered == OPERATORS

    @pytest.mark.parametrize("case", SPEC["cases"], ids=lambda c: c["name"])
    def test_condition_to_dict__spec_case__round_trips(self, case: dict[str, Any]) -> None:
        tree = parse_condition(case["condition"])
        assert parse_condition(condition_to_dict(tree)) == tree


MALFORMED: list[object] = [
    None,
    object(),
    {"nested": "object"},
    [["nested"]],
    [None, object(), {"a": 1}],
    (),
    math.nan,
    math.inf,
    -math.inf,
    10**5000,
    b"bytes",
    {"a", "set"},
    "",
    "x" * 100_000,
    "\ud800",
    "é🚀",
    [math.nan, math.inf],
    1e308 * 10,
]


def _leaf(operator: str) -> dict[str, object]:
    if operator in {"in", "not_in"}:
        return {"attribute": "a", "operator": operator, "values": ["x", "1"]}
    if operator == "exists":
        return {"attribute": "a", "operator": operator}
    value = {"regex": "^x+$", "contains": "x"}.get(operator, "1.0.0")
    if operator in {"eq", "neq", "gt", "gte", "lt", "lte"}:
        value = "1"
    return {"attribute": "a", "operator": operator, "value": value}


class TestMalformedAttributes:
    @pytest.mark.parametrize("operator", sorted(OPERATORS))
    def test_leaf__malformed_values__never_raise(self, operator: str) -> None:
        predicate = compile_condition(parse_condition(_leaf(operator)), {})
        for value in MALFORMED:
            assert isinstance(predicate({"a": value}, "u1"), bool)

    @pytest.mark.parametrize("operator", sorted(OPERATORS - {"exists"}))
    def test_leaf__unusable_value__does_not_match(self, operator: str) -> None:
        predicate = compile_condition(parse_condition(_leaf(operator)), {})
        for value in [None, object(), {"a": 1}, [["x"]], math.nan, math.inf, []]:
            assert predicate({"a": value}, "u1") is False

    def test_not__malformed_value__is_the_negation(self) -> None:
        tree = {"not": {"attribute": "a", "operator": "gt", "value": 1}}
        assert matches(tree, {"a": {"bad": True}}) is True


class TestCompileSegments:
    def test_compile_segments__cycle__config_error(self) -> None:
        definitions: dict[str, SegmentDefinition] = {
            "seg_a": InSegment("seg_b"),
            "seg_b": AllOf((InSegment("seg_a"),)),
        }
        with pytest.raises(ConfigError, match="seg_a -> seg_b -> seg_a"):
            compile_segments(definitions)

    def test_compile_condition__unknown_segment__config_error(self) -> None:
        with pytest.raises(ConfigError, match="unknown segment"):
            compile_condition(InSegment("seg_x"), {})

    def test_compile_condition__hand_built_leaf_without_value__config_error(self) -> None:
        with pytest.raises(ConfigError):
            compile_condition(Leaf("a", "eq"), {})


class TestAttributesFromProfiles:
    def test_attributes_from_profiles__abc_shape__lists(self) -> None:
        profiles = {"age": {"user_attrs": ["18"]}, "country": {"user_attrs": ["US", "CA"]}}
        assert attributes_from_profiles(profiles) == {"age": ["18"], "country": ["US", "CA"]}

    @pytest.mark.parametrize(
        "profiles",
        [None, [], "x", {"age": "18"}, {"age": {"user_attrs": "18"}}, {"age": {}}, {1: {}}],
        ids=str,
    )
    def test_attributes_from_profiles__malformed__skipped(self, profiles: object) -> None:
        assert attributes_from_profiles(profiles) == {}


class TestSemver:
    def test_parse_semver__semver_org_precedence__ordered(self) -> None:
        ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ]
        keys = [parse_semver(v) for v in ordered]
        assert all(a is not None and b is not None and a < b for a, b in pairwise(keys))

    @pytest.mark.parametrize("text", ["", "v", "1.", "1.2.3.4", "a.b.c", "1.2.3-", "01.0.0"])
    def test_parse_semver__invalid__none(self, text: str) -> None:
        assert parse_semver(text) is None


class TestValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("x", "x"),
            (True, "true"),
            (False, "false"),
            (18, "18"),
            (18.0, "18"),
            (-0.0, "0"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (math.nan, None),
            (None, None),
            ([1], None),
        ],
    )
    def test_canonical_string__value__expected(self, value: object, expected: str | None) -> None:
        assert canonical_string(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("18", 18.0),
            ("-1.5e2", -150.0),
            (".5", 0.5),
            ("5.", 5.0),
            (7, 7.0),
            (True, None),
            ("1_0", None),
            ("nan", None),
            ("1e999", None),
            ("", None),
            (" 1", None),
            ("٣", None),
        ],
    )
    def test_parse_number__value__expected(self, value: object, expected: float | None) -> None:
        assert parse_number(value) == expected


class TestRegexPatterns:
    """RE2: linear-time search, and patterns RE2 cannot run refused when a tree is parsed."""

    def test_nested_quantifier__long_input__linear(self) -> None:
        found = compile_pattern("^(a+)+$")
        started = time.perf_counter()
        assert not found("a" * (MAX_SEARCH_LENGTH - 1) + "!")
        assert time.perf_counter() - started < 1.0  # backtracking: 2^4095 steps

    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [
            ("(?=a)", "not a valid RE2 pattern"),
            ("(a)\\1", "not a valid RE2 pattern"),
            ("\ud800", "surrogate"),
            ("(?i)(?:[\\p{L}\\d]{3,20}\\.){2,5}", "RE2 instructions|not a valid RE2"),
            ("a" * (MAX_PATTERN_LENGTH + 1), "at most 512"),
        ],
    )
    def test_pattern_problem__refused(self, pattern: str, reason: str) -> None:
        problem = pattern_problem(pattern)
        assert problem is not None
        assert re.search(reason, problem)
        with pytest.raises(ConfigError) as caught:
            parse_condition({"attribute": "a", "operator": "regex", "value": pattern})
        assert caught.value.path == "conditions.value"

    def test_value_with_unpaired_surrogate__searched__no_error(self) -> None:
        assert compile_pattern("^x")("x\ud800")
        assert not compile_pattern("^y")("x\ud800")

    def test_dollar__end_of_value_only__multiline_flag_for_lines(self) -> None:
        assert not compile_pattern("^a$")("a\n")
        assert compile_pattern("(?m)^a$")("a\n")
