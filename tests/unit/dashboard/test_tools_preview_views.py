"""The tools page's form parsing and the evaluation preview's attribute parsing and rows."""

from __future__ import annotations

import pytest

from avsb.server.dashboard.views import preview_view, tools_view
from avsb.server.errors import ValidationFailed
from avsb_sdk.evaluation import ProjectConfig, compile_config, evaluate


def test_srm_form__lists_and_booleans() -> None:
    tool = tools_view.BY_SLUG["srm"]

    body = tools_view.body(tool, {"observed": "5000, 5100", "weights": "", "sequential": "true"})

    assert body == {"observed": [5000, 5100], "sequential": True}


def test_analyze_form__variant_lines() -> None:
    tool = tools_view.BY_SLUG["analyze"]
    text = "control, 1000, 100\ntreatment, 1000, 120, 130"

    body = tools_view.body(tool, {"metric_type": "continuous", "variants": text})

    assert body["variants"] == [
        {"key": "control", "n": 1000, "sum": 100.0},
        {"key": "treatment", "n": 1000, "sum": 120.0, "sum_squares": 130.0},
    ]


@pytest.mark.parametrize(
    ("slug", "values", "path"),
    [("srm", {"observed": "1, x"}, "observed"),
     ("analyze", {"variants": "control, many, 3"}, "variants")],
)  # fmt: skip
def test_bad_form__field_error(slug: str, values: dict[str, str], path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        tools_view.body(tools_view.BY_SLUG[slug], values)

    assert caught.value.details["fields"][0]["path"] == path


def test_attributes__lines_with_json_values() -> None:
    found = preview_view.parse_attributes('country = DE\nage=42\npaid=true\nname="x=y"')

    assert found == {"country": "DE", "age": 42, "paid": True, "name": "x=y"}


def test_attributes__json_object() -> None:
    assert preview_view.parse_attributes('{"plan": "pro", "seats": 3}') == {
        "plan": "pro",
        "seats": 3,
    }


@pytest.mark.parametrize("text", ["no equals sign", "[1, 2]", "{bad json"])
def test_attributes__bad__field_error(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        preview_view.parse_attributes(text)

    assert caught.value.details["fields"][0]["path"] == "attributes"


def test_rows__empty_config__no_layers_no_flags() -> None:
    config = ProjectConfig(project_id="prj_1", project_key="p", holdout_salt="s", revision=1)

    layers, flags = preview_view.rows(evaluate(compile_config(config), "u1", {}))

    assert (layers, flags) == ([], [])
