"""`avsb_sdk.evaluation.answers`: the JSON the server's routes and the SDK both answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avsb_sdk.evaluation import (
    CompiledConfig,
    assign_experiments,
    compile_config,
    config_from_dict,
    evaluate,
    evaluate_flags,
)
from avsb_sdk.evaluation.answers import (
    abc_experiments,
    abc_flags,
    flag_text,
    sdk_evaluation,
)

REPRESENTATIVE = Path(__file__).with_name("representative_config.json")


@pytest.fixture
def compiled() -> CompiledConfig:
    return compile_config(config_from_dict(json.loads(REPRESENTATIVE.read_text("utf-8"))))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (20, "20"),
        (20.0, "20"),
        (9.99, "9.99"),
        ("red", "red"),
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'),
        ([1, 2], "[1,2]"),
        (None, None),
    ],
)
def test_flag_text__abc_strings(value: object, text: str | None) -> None:
    assert flag_text(value) == text  # type: ignore[arg-type]


def test_abc_experiments__default_layer_shape(compiled: CompiledConfig) -> None:
    layers = abc_experiments(assign_experiments(compiled, "u1", layer_keys=["landing"]))
    for answer in layers.values():
        assert set(answer) == {"experiment_key", "group_id", "group_key", "params"}
        if answer["group_id"] == -1:
            assert answer == {"experiment_key": "default", "group_id": -1, "group_key": "default",
                              "params": {}}  # fmt: skip


def test_abc_flags__unknown_names_left_out(compiled: CompiledConfig) -> None:
    names = [*compiled.flag_keys, "no_such_flag"]
    answer = abc_flags(evaluate_flags(compiled, "u1", None, names))
    assert set(answer) == set(compiled.flag_keys)
    assert all(isinstance(a["value"], str | None) for a in answer.values())


def test_sdk_evaluation__every_layer_and_flag(compiled: CompiledConfig) -> None:
    answer = sdk_evaluation(evaluate(compiled, "u1"), compiled.revision)
    assert answer["revision"] == compiled.revision
    assert set(answer["experiments"]) == set(compiled.layer_keys)
    assert set(answer["flags"]) == set(compiled.flag_keys)
    json.dumps(answer)  # plain JSON throughout


def test_abc_flags__relative_experiment_params__flag_name_to_value(
    compiled: CompiledConfig,
) -> None:
    # seed 002: "params": {"my_colour": "red"} beside "value": "red", for any unit the
    # experiment chose the value of
    answers = [abc_flags(evaluate_flags(compiled, f"u{i}", None, ["my_colour"]))["my_colour"]
               for i in range(50)]  # fmt: skip
    chosen = [a for a in answers if a["relative_experiment"] is not None]
    assert chosen
    for answer in chosen:
        assert answer["relative_experiment"]["params"] == {"my_colour": answer["value"]}
