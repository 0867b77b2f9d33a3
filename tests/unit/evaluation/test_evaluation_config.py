"""The config model: JSON round trip, and every malformed config raising ConfigError."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from avsb_sdk.evaluation import (
    SCHEMA_VERSION,
    ConfigError,
    Experiment,
    ProjectConfig,
    Variant,
    compile_config,
    config_from_dict,
    config_to_dict,
    validate_config,
)

REPRESENTATIVE = Path(__file__).with_name("representative_config.json")


@pytest.fixture
def config_dict() -> dict[str, Any]:
    """Return a fresh copy of the representative config (tests/unit/evaluation/*.json)."""
    data: dict[str, Any] = json.loads(REPRESENTATIVE.read_text("utf-8"))
    return data


Mutation = Callable[[dict[str, Any]], object]


class TestRoundTrip:
    def test_config_from_dict__to_dict__equal(self, config_dict: dict[str, Any]) -> None:
        config = config_from_dict(config_dict)
        assert config_from_dict(config_to_dict(config)) == config

    def test_config_to_dict__through_json_text__equal(self, config_dict: dict[str, Any]) -> None:
        config = config_from_dict(config_dict)
        assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config

    def test_config_to_dict__versioned__schema_version_1(self, config_dict: dict[str, Any]) -> None:
        data = config_to_dict(config_from_dict(config_dict))
        assert data["schema_version"] == SCHEMA_VERSION == 1
        assert config_to_dict(config_from_dict(data)) == data

    def test_config_from_dict__unknown_keys__ignored(self, config_dict: dict[str, Any]) -> None:
        config_dict["added_by_a_newer_server"] = {"x": 1}
        config_dict["experiments"][0]["owner"] = "ann"
        assert config_from_dict(config_dict).experiments[0].key == "button_color"

    def test_config_from_dict__defaults__applied(self) -> None:
        config = config_from_dict(
            {"schema_version": 1, "project_id": "p", "project_key": "k", "holdout_salt": "h"}
        )
        assert config == ProjectConfig(project_id="p", project_key="k", holdout_salt="h")


def _set(path: str, value: object) -> Mutation:
    """Return a mutation that sets a dotted path (list indexes as numbers) to `value`."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()
_EXP0 = "experiments.0"
_FLAG0 = "flags.0"
_ALLOC = "layers.0.allocations"

MALFORMED: dict[str, tuple[Mutation, str]] = {
    "schema_version 2": (_set("schema_version", 2), "schema_version"),
    "schema_version missing": (_set("schema_version", _DELETE), "schema_version"),
    "schema_version true": (_set("schema_version", True), "schema_version"),
    "project_id missing": (_set("project_id", _DELETE), "project_id"),
    "project_key empty": (_set("project_key", ""), "project_key"),
    "holdout over 100": (_set("holdout_percent", 101), "holdout_percent"),
    "holdout a string": (_set("holdout_percent", "5"), "holdout_percent"),
    "holdout a bool": (_set("holdout_percent", True), "holdout_percent"),
    "revision negative": (_set("revision", -1), "revision"),
    "layers not a list": (_set("layers", {}), "layers"),
    "experiment not an object": (_set(_EXP0, "exp"), "experiments[0]"),
    "experiment status unknown": (_set(f"{_EXP0}.status", "live"), "experiments[0].status"),
    "experiment traffic over 100": (_set(f"{_EXP0}.traffic_percent", 150), "traffic_percent"),
    "experiment salt missing": (_set(f"{_EXP0}.salt", _DELETE), "experiments[0].salt"),
    "experiment unknown layer": (_set(f"{_EXP0}.layer_key", "nope"), "layer_key"),
    "experiment unknown audience": (_set(f"{_EXP0}.audience_id", "aud_x"), "audience_id"),
    "experiment bad conditions": (_set(f"{_EXP0}.conditions", {"xor": []}), "conditions"),
    "experiment duplicate key": (_set("experiments.1.key", "button_color"), "experiment keys"),
    "experiment duplicate id": (_set("experiments.1.id", "exp_button"), "experiment ids"),
    "implicit layer clashes": (_set("experiments.3.key", "landing"), "implicit layer"),
    "variants empty": (_set(f"{_EXP0}.variants", []), "variants"),
    "variant duplicate key": (_set(f"{_EXP0}.variants.1.key", "control"), "variant keys"),
    "variant duplicate group": (_set(f"{_EXP0}.variants.1.group_id", 101), "group ids"),
    "variant group -1": (_set(f"{_EXP0}.variants.0.group_id", -1), "group_id"),
    "variant group a float": (_set(f"{_EXP0}.variants.0.group_id", 1.5), "group_id"),
    "variant weight negative": (_set(f"{_EXP0}.variants.0.weight", -1), "weight"),
    "variant weight a string": (_set(f"{_EXP0}.variants.0.weight", "50"), "weight"),
    "variant weights zero": (
        lambda d: [v.update(weight=0) for v in d["experiments"][0]["variants"]],
        "positive sum",
    ),
    "variant param not a string": (_set(f"{_EXP0}.variants.0.params", {"n": 1}), "params"),
    "allocation unknown experiment": (_set(f"{_ALLOC}.exp_x", [[9000, 9100]]), "unknown exp"),
    "allocation overlap": (_set(f"{_ALLOC}.exp_hero", [[4000, 7000]]), "overlap"),
    "allocation past 10000": (_set(f"{_ALLOC}.exp_paused", [[9500, 10500]]), "bad range"),
    "allocation empty range": (_set(f"{_ALLOC}.exp_paused", [[9000, 9000]]), "bad range"),
    "allocation not a pair": (_set(f"{_ALLOC}.exp_paused", [[9000]]), "pair"),
    "allocation not a list": (_set(f"{_ALLOC}.exp_paused", "9000-10000"), "list"),
    "allocation size mismatch": (_set(f"{_ALLOC}.exp_hero", [[5000, 7000]]), "traffic_percent"),
    "running unallocated": (_set(f"{_ALLOC}.exp_hero", _DELETE), "no allocation"),
    "allocation in wrong layer": (
        lambda d: d["layers"].append(
            {"key": "other", "salt": "exg_other", "allocations": {"exp_price": [[0, 10000]]}}
        ),
        "another layer",
    ),
    "segment both kinds": (_set("segments.seg_vip.conditions", {"all": []}), "exactly one"),
    "segment neither kind": (_set("segments.seg_vip", {}), "exactly one"),
    "segment ids not strings": (_set("segments.seg_vip.unit_ids", [1, 2]), "unit_ids"),
    "segment unknown reference": (_set("audiences.aud_pro", {"segment": "seg_x"}), "seg_x"),
    "segment cycle": (
        _set("segments.seg_pro.conditions", {"segment": "seg_pro"}),
        "refer to each other",
    ),
    "audience invalid": (
        _set("audiences.aud_pro", {"attribute": "a", "operator": "gt", "value": "x"}),
        "audiences.aud_pro",
    ),
    "flag type unknown": (_set(f"{_FLAG0}.type", "color"), "flags[0].type"),
    "flag default wrong type": (_set(f"{_FLAG0}.default_value", 3), "default_value"),
    "flag default missing": (_set(f"{_FLAG0}.default_value", _DELETE), "default_value"),
    "flag number default bool": (_set("flags.1.default_value", True), "default_value"),
    "flag number default nan": (_set("flags.1.default_value", math.nan), "default_value"),
    "flag rule value wrong type": (_set(f"{_FLAG0}.rules.0.value", False), "rules[0].value"),
    "flag rollout over 100": (_set(f"{_FLAG0}.rules.0.rollout_percent", 101), "rollout"),
    "flag rule unknown audience": (_set(f"{_FLAG0}.rules.0.audience_id", "aud_x"), "aud_x"),
    "flag unknown experiment": (_set(f"{_FLAG0}.experiment_id", "exp_x"), "experiment_id"),
    "flag bound without param": (_set(f"{_FLAG0}.experiment_param", None), "experiment_param"),
    "flag duplicate key": (_set("flags.1.key", "my_colour"), "flag keys"),
    "flag enabled not bool": (_set(f"{_FLAG0}.enabled", "yes"), "enabled"),
    "salt shared": (_set("layers.0.salt", "exp_button"), "salts"),
    "salt equals implicit layer salt": (_set("flags.1.salt", "exp_price:layer"), "salts"),
}


class TestMalformed:
    @pytest.mark.parametrize("case", sorted(MALFORMED), ids=str)
    def test_config_from_dict__malformed__config_error(
        self, case: str, config_dict: dict[str, Any]
    ) -> None:
        mutate, where = MALFORMED[case]
        mutate(config_dict)
        with pytest.raises(ConfigError) as info:
            config_from_dict(config_dict)
        assert where in str(info.value)

    @pytest.mark.parametrize("data", [None, [], "config", 1], ids=str)
    def test_config_from_dict__not_an_object__config_error(self, data: object) -> None:
        with pytest.raises(ConfigError, match="must be an object"):
            config_from_dict(data)

    def test_config_error__is_a_value_error_with_path(self) -> None:
        error = ConfigError("flags[0].type", "bad")
        assert isinstance(error, ValueError)
        assert (error.path, error.reason, str(error)) == (
            "flags[0].type",
            "bad",
            "flags[0].type: bad",
        )


class TestValidateConfig:
    def test_compile_config__invalid_python_built_config__config_error(self) -> None:
        config = ProjectConfig(
            project_id="p",
            project_key="k",
            holdout_salt="h",
            experiments=(Experiment("e", "k", "s", "running", (Variant("a", 1, 0),)),),
        )
        with pytest.raises(ConfigError, match="positive sum"):
            compile_config(config)

    def test_validate_config__representative__passes(self, config_dict: dict[str, Any]) -> None:
        validate_config(config_from_dict(config_dict))

    def test_experiment__implicit_layer__named_after_key(self) -> None:
        experiment = Experiment("e", "key", "s", "running", (Variant("a", 1, 1),))
        assert experiment.effective_layer_key == "key"
