"""Rule trees as form rows or JSON, and the "test this unit" explanation."""

from __future__ import annotations

import pytest

from avsb.server.dashboard.forms.common import Parsed
from avsb.server.dashboard.forms.rule_tree import (
    ROW_OPERATORS,
    explain,
    parse_attributes,
    parse_tree,
    tree_values,
)
from avsb_sdk.evaluation.conditions import OPERATORS


def _rows(*rows: tuple[str, str, str], combine: str = "all") -> dict[str, list[str]]:
    form = {"c.combine": [combine], "c.mode": ["rows"]}
    for i, (attribute, operator, value) in enumerate(rows):
        form[f"c.rows.{i}.attribute"] = [attribute]
        form[f"c.rows.{i}.operator"] = [operator]
        form[f"c.rows.{i}.value"] = [value]
    return form


def test_rows__every_operator_of_the_core_is_offered() -> None:
    assert set(ROW_OPERATORS) - {"segment"} == OPERATORS


def test_rows__typed_tree() -> None:
    form = _rows(
        ("country", "in", "DE, FR"), ("age", "gte", "18"), ("app", "semver_gte", "2.1.0"),
        ("email", "exists", "true"), ("", "segment", "seg_1"), combine="any",
    )  # fmt: skip
    form["c.rows.1.negate"] = ["on"]
    parsed = Parsed()
    tree, rows = parse_tree(form, "c", parsed)
    assert parsed.errors == {}
    assert rows == [0, 1, 2, 3, 4]
    assert tree == {"any": [
        {"attribute": "country", "operator": "in", "values": ["DE", "FR"]},
        {"not": {"attribute": "age", "operator": "gte", "value": 18}},
        {"attribute": "app", "operator": "semver_gte", "value": "2.1.0"},
        {"attribute": "email", "operator": "exists", "value": True},
        {"segment": "seg_1"},
    ]}  # fmt: skip
    values = tree_values(tree, "c")
    assert values["c.mode"] == "rows"
    assert values["c.combine"] == "any"
    again, _ = parse_tree({k: [v] for k, v in values.items()}, "c", Parsed())
    assert again == tree


def test_rows__bad_value_error_beside_its_row() -> None:
    form = _rows(("country", "eq", "DE"), ("", "gt", ""), ("age", "gt", "old"))
    parsed = Parsed()
    parse_tree(form, "c", parsed)
    assert list(parsed.errors) == ["c.rows.2"]
    assert "numeric" in parsed.errors["c.rows.2"]


def test_nested_tree__edited_as_json() -> None:
    tree = {"all": [{"any": [{"attribute": "a", "operator": "eq", "value": "x"}]}]}
    values = tree_values(tree, "c")
    assert values["c.mode"] == "json"
    parsed = Parsed()
    again, _ = parse_tree({k: [v] for k, v in values.items()}, "c", parsed)
    assert again == tree
    assert parsed.errors == {}
    bad = Parsed()
    parse_tree({"c.mode": ["json"], "c.json": ["{nope"]}, "c", bad)
    assert bad.errors["c.json"].startswith("Not JSON")


def test_explain__which_rule_matched() -> None:
    tree = {"any": [
        {"attribute": "country", "operator": "eq", "value": "DE"},
        {"all": [{"attribute": "plan", "operator": "eq", "value": "pro"}, {"segment": "beta"}]},
    ]}  # fmt: skip
    segments = {"beta": frozenset({"u1"})}
    result = explain(tree, {"country": "FR", "plan": "pro"}, "u1", segments)
    assert [(r.depth, r.label, r.matched) for r in result] == [
        (0, "any of", True),
        (1, 'country eq "DE"', False),
        (1, "all of", True),
        (2, 'plan eq "pro"', True),
        (2, "in segment beta", True),
    ]
    assert explain(tree, {"country": "FR", "plan": "pro"}, "u2", segments)[0].matched is False


def test_attributes__json_or_lines() -> None:
    assert parse_attributes('{"a": [1, 2]}') == {"a": [1, 2]}
    assert parse_attributes("age=30\nbeta=true\ncountry=DE") == {
        "age": 30, "beta": True, "country": "DE",
    }  # fmt: skip
    with pytest.raises(ValueError, match="Line 1"):
        parse_attributes("nonsense")
