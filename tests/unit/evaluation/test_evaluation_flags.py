"""Flag resolution: kill switch, bound experiments, rules, rollouts and OpenFeature reasons."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from avsb_sdk.evaluation import (
    CompiledConfig,
    ErrorCode,
    Reason,
    compile_config,
    config_from_dict,
    evaluate,
    evaluate_flags,
)
from avsb_sdk.evaluation.flags import convert_param

REPRESENTATIVE = Path(__file__).with_name("representative_config.json")


@pytest.fixture
def config_dict() -> dict[str, Any]:
    """Return a fresh copy of the representative config (tests/unit/evaluation/*.json)."""
    data: dict[str, Any] = json.loads(REPRESENTATIVE.read_text("utf-8"))
    return data


@pytest.fixture
def compiled(config_dict: dict[str, Any]) -> CompiledConfig:
    """Return the representative config, compiled."""
    return compile_config(config_from_dict(config_dict))


UNITS = [f"unit_{i}" for i in range(20_000)]


def _one(compiled: CompiledConfig, name: str, unit: str, attributes: dict[str, object]) -> Any:
    return evaluate_flags(compiled, unit, attributes, [name])[name]


class TestStaticAndDisabled:
    def test_flag__no_rules_no_experiment__static(self, compiled: CompiledConfig) -> None:
        value = _one(compiled, "theme", "u1", {})
        assert (value.value, value.reason) == ({"primary": "#123456", "radius": [4, 8]}, "STATIC")

    def test_flag__disabled_with_rules__default_disabled(self, compiled: CompiledConfig) -> None:
        value = _one(compiled, "legacy", "u1", {})
        assert (value.value, value.reason, value.experiment) == (False, Reason.DISABLED, None)

    def test_flag__disabled_and_bound__never_from_experiment(
        self, config_dict: dict[str, Any]
    ) -> None:
        config_dict["flags"][0]["enabled"] = False
        compiled = compile_config(config_from_dict(config_dict))
        values = {_one(compiled, "my_colour", u, {"country": "FR"}).value for u in UNITS[:500]}
        assert values == {"grey"}

    def test_flag__unknown_name__flag_not_found(self, compiled: CompiledConfig) -> None:
        value = _one(compiled, "nope", "u1", {})
        assert (value.value, value.reason, value.error_code) == (
            None,
            Reason.ERROR,
            ErrorCode.FLAG_NOT_FOUND,
        )


class TestBoundFlags:
    def test_bound_flag__assigned_unit__variant_param_split(self, compiled: CompiledConfig) -> None:
        seen = set()
        for unit in UNITS[:2000]:
            result = evaluate(compiled, unit, {"country": "FR"})
            assignment, value = result.assignments["landing"], result.flags["my_colour"]
            if assignment.assigned and assignment.experiment_key == "button_color":
                assert value.value == assignment.params["color"]
                assert (value.reason, value.variant) == (Reason.SPLIT, assignment.variant_key)
                assert value.experiment is assignment
                seen.add(value.value)
            else:  # not in the experiment: the rules apply
                assert (value.value, value.reason, value.experiment) == (
                    "bleu",
                    Reason.TARGETING_MATCH,
                    None,
                )
        assert seen == {"red", "blue"}

    def test_bound_flag__number_param__converted_or_type_mismatch(
        self, compiled: CompiledConfig
    ) -> None:
        by_variant: dict[str, set[tuple[object, str, str | None]]] = {}
        for unit in UNITS[:1000]:
            value = _one(compiled, "price", unit, {"plan": "free"})
            assert value.experiment is not None
            by_variant.setdefault(value.experiment.variant_key, set()).add(
                (value.value, value.reason, value.error_code)
            )
        assert by_variant == {
            "low": {(9, Reason.SPLIT, None)},
            "mid": {(12.5, Reason.SPLIT, None)},
            "high": {(10, Reason.ERROR, ErrorCode.TYPE_MISMATCH)},
        }

    def test_bound_flag__outside_audience__default(self, compiled: CompiledConfig) -> None:
        value = _one(compiled, "price", "u1", {})  # no plan: fails the inline condition
        assert (value.value, value.reason, value.experiment) == (10, Reason.DEFAULT, None)

    def test_bound_flag__variant_without_param__default_in_experiment(
        self, config_dict: dict[str, Any]
    ) -> None:
        config_dict["experiments"][0]["variants"][0]["params"] = {}
        compiled = compile_config(config_from_dict(config_dict))
        for unit in UNITS[:1000]:
            value = _one(compiled, "my_colour", unit, {})
            if value.experiment is not None and value.experiment.variant_key == "control":
                assert (value.value, value.reason) == ("grey", Reason.SPLIT)

    def test_bound_flag__json_param_invalid__parse_error(self, config_dict: dict[str, Any]) -> None:
        flag = config_dict["flags"][0]
        flag.update(type="json", default_value={"c": "grey"}, rules=[])
        config_dict["experiments"][0]["variants"][0]["params"]["color"] = '{"c": "red"}'
        config_dict["experiments"][0]["variants"][1]["params"]["color"] = "{not json"
        compiled = compile_config(config_from_dict(config_dict))
        outcomes = {
            (str(v.value), v.reason, v.error_code)
            for v in (_one(compiled, "my_colour", u, {}) for u in UNITS[:1000])
        }
        assert outcomes == {
            ("{'c': 'red'}", Reason.SPLIT, None),
            ("{'c': 'grey'}", Reason.ERROR, ErrorCode.PARSE_ERROR),
            ("{'c': 'grey'}", Reason.DEFAULT, None),
        }

    def test_bound_flag__held_out_unit__rules_apply(self, config_dict: dict[str, Any]) -> None:
        config_dict["holdout_percent"] = 100
        compiled = compile_config(config_from_dict(config_dict))
        value = _one(compiled, "my_colour", "u1", {"country": "FR"})
        assert (value.value, value.reason) == ("bleu", Reason.TARGETING_MATCH)

    def test_bound_flag__experiment_not_running__rules_apply(
        self, config_dict: dict[str, Any]
    ) -> None:
        config_dict["flags"][0]["experiment_id"] = "exp_paused"
        compiled = compile_config(config_from_dict(config_dict))
        values = {_one(compiled, "my_colour", u, {}).reason for u in UNITS[:500]}
        assert values == {Reason.DEFAULT}


class TestRules:
    def test_rule__audience_match__targeting_match(self, compiled: CompiledConfig) -> None:
        value = _one(compiled, "new_checkout", "u1", {"plan": "pro"})
        assert (value.value, value.reason, value.variant) == (True, "TARGETING_MATCH", "rule_0")

    def test_rule__rollout_25__quarter_of_units_split(self, compiled: CompiledConfig) -> None:
        values = [_one(compiled, "new_checkout", u, {"plan": "free"}) for u in UNITS]
        on = [v for v in values if v.value is True]
        assert {v.reason for v in on} == {Reason.SPLIT}
        assert {v.reason for v in values if v.value is False} == {Reason.DEFAULT}
        assert abs(len(on) / len(UNITS) - 0.25) < 0.015

    def test_rule__rollout_raised__members_stay_in(self, config_dict: dict[str, Any]) -> None:
        small = compile_config(config_from_dict(config_dict))
        config_dict["flags"][2]["rules"][1]["rollout_percent"] = 60
        large = compile_config(config_from_dict(config_dict))
        for unit in UNITS[:5000]:
            if _one(small, "new_checkout", unit, {}).value:
                assert _one(large, "new_checkout", unit, {}).value


class TestConsistency:
    def test_evaluate_flags__same_as_evaluate(self, compiled: CompiledConfig) -> None:
        rng = random.Random(3)
        for unit in UNITS[:3000]:
            attributes: dict[str, object] = {
                "country": rng.choice(["US", "FR", ["FR"], None]),
                "age": rng.choice([17, "18", ["40"], "x"]),
                "plan": rng.choice(["pro", "free", None]),
            }
            assert evaluate_flags(compiled, unit, attributes) == dict(
                evaluate(compiled, unit, attributes).flags
            )


class TestConvertParam:
    @pytest.mark.parametrize(
        ("flag_type", "text", "expected"),
        [
            ("string", " x ", " x "),
            ("boolean", "true", True),
            ("boolean", "TRUE", True),
            ("boolean", "on", True),
            ("boolean", "0", False),
            ("boolean", "no", False),
            ("number", "20", 20),
            ("number", "-3", -3),
            ("number", "2.5", 2.5),
            ("number", "1e3", 1000.0),
            ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
            ("json", "null", None),
        ],
    )
    def test_convert_param__text__expected(
        self, flag_type: str, text: str, expected: object
    ) -> None:
        assert convert_param(flag_type, text) == expected

    @pytest.mark.parametrize(
        ("flag_type", "text"),
        [
            ("boolean", "maybe"),
            ("number", "twenty"),
            ("number", "nan"),
            ("number", "1e999"),
            ("json", "NaN"),
            ("json", "{"),
            ("json", "[" * 100_000),
        ],
    )
    def test_convert_param__unconvertible__value_error(self, flag_type: str, text: str) -> None:
        with pytest.raises(ValueError, match=r"not|JSON|Expecting"):
            convert_param(flag_type, text)
