"""The experiment form codec: HTML fields to the API's create / patch payload and back."""

from __future__ import annotations

from avsb.server.dashboard.forms.experiment_form import (
    design_values,
    experiment_values,
    new_values,
    parse_design,
    parse_experiment,
    parse_params,
)
from avsb.server.experiments.schemas import ExperimentCreate, ExperimentDesign


def _form(**fields: str) -> dict[str, list[str]]:
    base = {**new_values(), "project_id": "prj_1", "key": "checkout", "name": "Checkout"}
    base.update(fields)
    return {k: [v] for k, v in base.items()}


def test_create__payload_is_what_the_api_takes() -> None:
    form = _form(**{
        "variants.1.params": "color=blue\nsize = 12",
        "metric_role.met_a": "primary",
        "metric_role.met_b": "guardrail",
        "metric_role.met_c": "",
        "analysis.mde_pct": "5",
        "traffic_percent": "40",
        "exclusion_group_id": "exg_1",
    })  # fmt: skip
    parsed, rows, roles = parse_experiment(form, creating=True)
    assert parsed.errors == {}
    body = ExperimentCreate.model_validate(parsed.payload)
    assert [v.key for v in body.variants] == ["control", "treatment"]
    assert body.variants[1].params == {"color": "blue", "size": "12"}
    assert body.metrics.primary == ["met_a"]
    assert body.metrics.guardrail == ["met_b"]
    assert body.metrics.secondary == []
    assert body.traffic_percent == 40.0
    assert body.exclusion_group_id == "exg_1"
    assert body.analysis.mde_pct == 5.0
    assert body.analysis.cuped is True
    assert rows == [0, 1]
    assert roles["primary"] == ["met_a"]


def test_errors__keyed_by_the_form_row_the_person_filled() -> None:
    # Row 0 left blank: the API's variants.1 is the form's row 2.
    form = _form(**{
        "variants.0.key": "", "variants.0.weight": "",
        "variants.1.key": "a", "variants.1.weight": "50",
        "variants.2.key": "Bad Key!", "variants.2.weight": "abc",
        "analysis.alpha": "2",
    })  # fmt: skip
    parsed, rows, _ = parse_experiment(form, creating=True)
    assert rows == [1, 2]
    assert "variants.2.key" in parsed.errors
    assert "variants.2.weight" in parsed.errors
    assert "analysis.alpha" in parsed.errors
    assert parsed.payload == {}


def test_bad_params_line__error_beside_that_variant() -> None:
    parsed, _, _ = parse_experiment(_form(**{"variants.1.params": "no equals sign"}), creating=True)
    assert parsed.errors["variants.1.params"].startswith("Line 1")
    assert parse_params("a=1\n\nb = two words") == {"a": "1", "b": "two words"}


def test_patch_of_a_started_experiment__leaves_frozen_fields_out() -> None:
    parsed, _, _ = parse_experiment(_form(traffic_percent="60"), creating=False, frozen=True)
    assert parsed.errors == {}
    assert "variants" not in parsed.payload
    assert "key" not in parsed.payload
    assert "audience_id" not in parsed.payload
    assert "project_id" not in parsed.payload
    assert parsed.payload["traffic_percent"] == 60.0


def test_values_round_trip__stored_experiment_reads_back_to_the_same_payload() -> None:
    form = _form(**{
        "variants.0.params": "x=1", "metric_role.met_a": "secondary",
        "analysis.method": "sequential", "analysis.cuped": "", "audience_id": "aud_1",
    })  # fmt: skip
    first, _, _ = parse_experiment(form, creating=True)
    body = ExperimentCreate.model_validate(first.payload)
    values = experiment_values(body.model_copy(update={"project_id": "prj_1"}))
    again, _, _ = parse_experiment({k: [v] for k, v in values.items()}, creating=True)
    assert again.errors == {}
    assert again.payload == first.payload
    assert values["analysis.cuped"] == ""
    assert values["analysis.stopping_rule"] == "sequential"


def test_design__a_templates_body_from_the_same_fields_and_back() -> None:
    form = _form(**{
        "variants.0.key": "", "variants.0.weight": "",
        "variants.1.key": "a", "variants.1.weight": "30", "variants.1.params": "x=1",
        "variants.2.key": "b", "variants.2.weight": "70",
        "metric_role.met_a": "primary", "hypothesis": "B wins", "traffic_percent": "25",
        "analysis.cuped": "",
    })  # fmt: skip
    parsed, rows, roles = parse_design(form)
    assert parsed.errors == {}
    design = ExperimentDesign.model_validate(parsed.payload)  # no project, key or name
    assert set(parsed.payload) == set(ExperimentDesign.model_fields)
    assert [(v.key, v.weight, v.params) for v in design.variants] == [
        ("a", 30.0, {"x": "1"}), ("b", 70.0, {}),
    ]  # fmt: skip
    assert design.metrics.primary == ["met_a"]
    assert (design.hypothesis, design.traffic_percent, design.analysis.cuped) == (
        "B wins", 25.0, False,
    )  # fmt: skip
    assert (rows, roles["primary"]) == ([1, 2], ["met_a"])
    values = design_values(parsed.payload)
    assert "key" not in values
    assert "name" not in values
    again, _, _ = parse_design({k: [v] for k, v in values.items()})
    assert again.payload == parsed.payload


def test_design__errors_beside_the_row_sent() -> None:
    form = _form(**{
        "variants.0.key": "", "variants.0.weight": "",
        "variants.1.key": "a", "variants.1.weight": "50",
        "variants.2.key": "b", "variants.2.weight": "-3",
    })  # fmt: skip
    parsed, _, _ = parse_design(form)
    assert "variants.2.weight" in parsed.errors
    assert parsed.payload == {}
    one, _, _ = parse_design(_form(**{"variants.1.key": "", "variants.1.weight": ""}))
    assert "variants" in one.errors  # a design needs two variants
