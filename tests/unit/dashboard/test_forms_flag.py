"""The flag form codec: typed default and rule values, rules, binding."""

from __future__ import annotations

import pytest

from avsb.server.dashboard.forms.flag_form import flag_values, parse_flag, parse_value
from avsb.server.flags.schemas import FlagCreate


def _form(**fields: str) -> dict[str, list[str]]:
    base = {"project_id": "prj_1", "key": "new-checkout", "name": "", "type": "number",
            "default_value": "3", "enabled": "on"}  # fmt: skip
    base.update(fields)
    return {k: [v] for k, v in base.items()}


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [("boolean", "true", True), ("number", "2.5", 2.5), ("number", "4", 4),
     ("json", '{"a": 1}', {"a": 1}), ("string", " x ", " x ")],
)  # fmt: skip
def test_typed_values(kind: str, raw: str, value: object) -> None:
    assert parse_value(kind, raw) == value


def test_create__rules_and_binding() -> None:
    form = _form(**{
        "rules.1.audience_id": "aud_1", "rules.1.rollout_percent": "25", "rules.1.value": "7",
        "rules.1.conditions.mode": "rows", "rules.1.conditions.combine": "all",
        "rules.1.conditions.rows.0.attribute": "country",
        "rules.1.conditions.rows.0.operator": "eq", "rules.1.conditions.rows.0.value": "DE",
        "experiment_id": "exp_1", "experiment_param": "size",
    })  # fmt: skip
    parsed, rows = parse_flag(form, creating=True)
    assert parsed.errors == {}
    assert list(rows) == [1]
    body = FlagCreate.model_validate(parsed.payload)
    assert body.default_value == 3
    assert body.enabled is True
    assert body.rules[0].audience_id == "aud_1"
    assert body.rules[0].rollout_percent == 25
    assert body.rules[0].conditions == {
        "all": [{"attribute": "country", "operator": "eq", "value": "DE"}]
    }
    assert body.experiment_id == "exp_1"
    assert body.experiment_param == "size"
    values = flag_values(body.model_copy(update={"project_id": "prj_1"}))
    again, _ = parse_flag({k: [v] for k, v in values.items()}, creating=True)
    assert again.payload == parsed.payload


def test_errors__beside_the_rule_row_and_the_default() -> None:
    form = _form(**{"default_value": "many", "rules.3.value": "x", "rules.3.rollout_percent": "250",
                    "enabled": ""})  # fmt: skip
    parsed, rows = parse_flag(form, creating=True)
    assert list(rows) == [3]
    assert parsed.errors["default_value"] == "Enter a number."
    assert parsed.errors["rules.3.value"] == "Enter a number."
    assert "rules.3.rollout_percent" in parsed.errors


def test_kill_switch_off__enabled_false() -> None:
    parsed, _ = parse_flag(_form(enabled=""), creating=False)
    assert parsed.errors == {}
    assert parsed.payload["enabled"] is False
