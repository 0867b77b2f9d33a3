"""The public surface of avsb_sdk.evaluation: pinned names, stdlib and re2, filters, no mutation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

import pytest

import avsb_sdk.evaluation as evaluation
from avsb_sdk.evaluation import (
    DEFAULT_GROUP_ID,
    AssignmentReason,
    CompiledConfig,
    assign_experiments,
    attributes_from_profiles,
    compile_config,
    config_from_dict,
    evaluate,
)
from tests.support.imports import forbidden_imports

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


PUBLIC = {
    "BUCKETS",
    "DEFAULT_GROUP_ID",
    "DEFAULT_KEY",
    "SCHEMA_VERSION",
    "AllocationError",
    "Assignment",
    "AssignmentReason",
    "Attributes",
    "BucketRange",
    "CompiledConfig",
    "Condition",
    "ConfigError",
    "ErrorCode",
    "Evaluation",
    "EvaluationCoreError",
    "Experiment",
    "Flag",
    "FlagRule",
    "FlagValue",
    "JsonValue",
    "Layer",
    "LayerFullError",
    "ProjectConfig",
    "Reason",
    "Segment",
    "Variant",
    "assign_experiments",
    "attributes_from_profiles",
    "bucket",
    "compile_config",
    "condition_to_dict",
    "config_from_dict",
    "config_to_dict",
    "evaluate",
    "evaluate_flags",
    "evaluate_flags_anonymous",
    "free_buckets",
    "matches",
    "parse_condition",
    "plan_allocation",
    "release_allocation",
    "validate_config",
}


class TestSurface:
    def test_all__pinned(self) -> None:
        assert set(evaluation.__all__) == PUBLIC
        assert all(hasattr(evaluation, name) for name in PUBLIC)

    def test_modules__import_stdlib_re2_and_evaluation_only(self) -> None:
        # re2 (computation only, no I/O) is the one third-party import: linear-time regexes
        def allowed(name: str) -> bool:
            top = name.split(".")[0]
            return (
                name.startswith("avsb_sdk.evaluation")
                or top in sys.stdlib_module_names
                or (top == "re2" and name == "re2")
            )

        assert forbidden_imports(Path(evaluation.__file__).parent, allowed) == []


class TestAssignExperiments:
    def test_assign_experiments__all_layers__explicit_and_implicit(
        self, compiled: CompiledConfig
    ) -> None:
        assert set(assign_experiments(compiled, "u1", {})) == {"landing", "price_test"}
        assert compiled.layer_keys == ("landing", "price_test")

    def test_assign_experiments__layer_keys__only_known_ones(
        self, compiled: CompiledConfig
    ) -> None:
        got = assign_experiments(compiled, "u1", {}, layer_keys=["price_test", "nope"])
        assert list(got) == ["price_test"]

    def test_assign_experiments__experiment_keys__others_filtered(
        self, compiled: CompiledConfig
    ) -> None:
        reasons = set()
        for i in range(400):
            got = assign_experiments(compiled, f"u{i}", {}, experiment_keys=["button_color"])
            assert list(got) == ["landing"]
            assignment = got["landing"]
            assert not assignment.assigned or assignment.experiment_key == "button_color"
            reasons.add(assignment.reason)
        assert reasons == {
            AssignmentReason.ASSIGNED,
            AssignmentReason.FILTERED,
            AssignmentReason.NOT_IN_TRAFFIC,
        }

    def test_assign_experiments__default__abc_shape(self, compiled: CompiledConfig) -> None:
        unallocated = next(
            a
            for i in range(1000)
            if not (a := assign_experiments(compiled, f"u{i}", {})["landing"]).assigned
        )
        assert (unallocated.experiment_key, unallocated.variant_key) == ("default", "default")
        assert (unallocated.group_id, dict(unallocated.params)) == (DEFAULT_GROUP_ID, {})

    def test_assign_experiments__paused_buckets__assign_nobody(
        self, compiled: CompiledConfig
    ) -> None:
        keys = {
            assign_experiments(compiled, f"u{i}", {})["landing"].experiment_key for i in range(3000)
        }
        assert "paused_test" not in keys

    def test_assign_experiments__audience_mismatch__not_in_audience(
        self, compiled: CompiledConfig
    ) -> None:
        reasons = {
            assign_experiments(compiled, f"u{i}", {"country": "FR"})["landing"].reason
            for i in range(1000)
        }
        assert AssignmentReason.NOT_IN_AUDIENCE in reasons

    def test_assign_experiments__abc_profiles__audience_matches(
        self, compiled: CompiledConfig
    ) -> None:
        profiles = {"age": {"user_attrs": ["18"]}, "country": {"user_attrs": ["US"]}}
        attributes = attributes_from_profiles(profiles)
        keys = {
            assign_experiments(compiled, f"u{i}", attributes)["landing"].experiment_key
            for i in range(1000)
        }
        assert {"hero", "button_color", "default"} == keys


class TestEvaluate:
    def test_evaluate__deterministic(self, compiled: CompiledConfig) -> None:
        assert evaluate(compiled, "u42", {"plan": "pro"}) == evaluate(
            compiled, "u42", {"plan": "pro"}
        )

    def test_evaluate__result__read_only(self, compiled: CompiledConfig) -> None:
        result = evaluate(compiled, "u1", {})
        with pytest.raises(TypeError):
            cast(dict[str, Any], result.assignments)["x"] = None
        with pytest.raises(TypeError):
            cast(dict[str, Any], result.assignments["price_test"].params)["x"] = "y"

    @pytest.mark.parametrize("attributes", [None, ["not", "a", "mapping"], "text", 3], ids=str)
    def test_evaluate__attributes_not_a_mapping__treated_as_none(
        self, compiled: CompiledConfig, attributes: object
    ) -> None:
        result = evaluate(compiled, "u1", cast(Any, attributes))
        assert result == evaluate(compiled, "u1", {})

    def test_evaluate__exposures__real_assignments_only(self, compiled: CompiledConfig) -> None:
        result = evaluate(compiled, "u1", {"plan": "free"})
        assert result.exposures() == [a for a in result.assignments.values() if a.assigned]
        assert result.exposures()  # price_test takes everyone with a plan

    def test_compiled_config__properties(self, compiled: CompiledConfig) -> None:
        assert (compiled.project_id, compiled.revision) == ("prj_1", 7)
        assert compiled.flag_keys == ("my_colour", "price", "new_checkout", "theme", "legacy")
