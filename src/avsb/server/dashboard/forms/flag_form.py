"""The flag form: type, typed default, kill switch, ordered rules (audience, inline rule
tree, rollout percentage, value) and the experiment binding, read into ``FlagCreate`` /
``FlagPatch`` payloads and back.

Field names are the API's paths: ``default_value``, ``rules.0.audience_id``,
``rules.0.rollout_percent``, ``rules.0.value``; a rule's inline tree uses the rule-tree
fields under ``rules.0.conditions`` (see ``rule_tree``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from avsb.server.dashboard.forms import rule_tree
from avsb.server.dashboard.forms.common import (
    FormData,
    Parsed,
    check,
    checked,
    number_text,
    optional,
    payload_of,
    text,
)
from avsb.server.flags.schemas import FlagCreate, FlagPatch

TYPES = ("boolean", "string", "number", "json")
RULE_FIELDS = ("audience_id", "rollout_percent", "value")
MAX_RULE_ROWS = 10


def parse_value(kind: str, raw: str) -> Any:
    """A value typed in the form as a value of the flag's type; ValueError says why not."""
    if kind == "boolean":
        if raw.strip().lower() in ("true", "on"):
            return True
        if raw.strip().lower() in ("false", "off"):
            return False
        raise ValueError("Choose true or false.")
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("Enter a number.") from None
        if not math.isfinite(number):
            raise ValueError("Enter a finite number.")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "json":
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"Not JSON: {exc}.") from None
    return raw


def value_text(kind: str, value: Any) -> str:
    """A stored value as the form shows it (the inverse of ``parse_value``)."""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "number":
        return number_text(value)
    if kind == "json":
        return json.dumps(value)
    return "" if value is None else str(value)


def _rule_rows(form: FormData) -> list[int]:
    rows = []
    for i in range(MAX_RULE_ROWS):
        base = f"rules.{i}"
        fields = (f"{base}.audience_id", f"{base}.value", f"{base}.conditions.json")
        has_tree = any(
            text(form, f"{base}.conditions.rows.{j}.attribute") for j in range(rule_tree.MAX_ROWS)
        )
        if any(text(form, name) for name in fields) or has_tree:
            rows.append(i)
    return rows


def _typed(form: FormData, kind: str, name: str, parsed: Parsed) -> Any:
    raw = form.get(name, [""])[0]
    if kind != "string":
        raw = raw.strip()
    try:
        return parse_value(kind, raw)
    except ValueError as exc:
        parsed.add(name, str(exc))
        return None


def parse_flag(form: FormData, *, creating: bool) -> tuple[Parsed, dict[int, list[int]]]:
    """The payload of ``POST`` (``creating``) or ``PATCH`` a flag, checked by the API's body
    schema. Also, for each rule row sent (in order), the rows of its conditions editor: what
    ``map_errors`` needs to put a service error beside its field."""
    parsed = Parsed()
    kind = text(form, "type", "boolean")
    if kind not in TYPES:
        parsed.add("type", f"Choose one of {', '.join(TYPES)}.")
        kind = "string"
    rows: dict[int, list[int]] = {}
    rules = []
    for i in _rule_rows(form):
        base = f"rules.{i}"
        tree, rows[i] = rule_tree.parse_tree(form, f"{base}.conditions", parsed, required=False)
        rules.append(
            {
                "audience_id": optional(form, f"{base}.audience_id"),
                "conditions": tree,
                "rollout_percent": text(form, f"{base}.rollout_percent") or "100",
                "value": _typed(form, kind, f"{base}.value", parsed),
            }
        )
    payload: dict[str, Any] = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "type": kind,
        "default_value": _typed(form, kind, "default_value", parsed),
        "enabled": checked(form, "enabled"),
        "rules": rules,
        "experiment_id": optional(form, "experiment_id"),
        "experiment_param": optional(form, "experiment_param"),
        "key": text(form, "key"),
    }
    if creating:
        payload["project_id"] = text(form, "project_id")
    elif not payload["name"]:
        payload["name"] = payload["key"]  # as a new flag is named
    schema_errors = Parsed()
    body = check(FlagCreate if creating else FlagPatch, payload, schema_errors)
    for path, message in map_errors(schema_errors.errors, rows, form).items():
        parsed.add(path, message)
    if body is not None and parsed.ok:
        parsed.payload = payload_of(body, creating)
        if not creating:
            parsed.payload["default_value"] = payload["default_value"]
    return parsed, rows


def map_errors(
    errors: Mapping[str, str], rows: Mapping[int, list[int]], form: FormData
) -> dict[str, str]:
    """API error paths moved beside the form fields: ``rules.<n>...`` of the n-th sent rule
    goes to its form row, a path inside its conditions to that editor's row (or JSON box),
    and anything under a rule that has no field of its own beside the rule."""
    order = list(rows)
    out: dict[str, str] = {}
    for path, message in errors.items():
        parts = path.split(".")
        if len(parts) >= 2 and parts[0] == "rules" and parts[1].isdigit():
            n = int(parts[1])
            if n < len(order):
                i = order[n]
                prefix = f"rules.{i}.conditions"
                path = ".".join(["rules", str(i), *parts[2:]])
                if len(parts) > 2 and parts[2] == "conditions":
                    mode = text(form, f"{prefix}.mode", "rows")
                    path = rule_tree.map_tree_errors({path: ""}, prefix, rows[i], mode).popitem()[0]
                elif len(parts) > 3 or (parts[2:] and parts[2] not in RULE_FIELDS):
                    path = f"rules.{i}"
        out.setdefault(path, message)
    return out


def flag_values(flag: Any) -> dict[str, str]:
    """The form fields showing a stored flag (a ``Flag`` or ``FlagOut``)."""
    kind = flag.type
    values: dict[str, str] = {
        "project_id": flag.project_id,
        "key": flag.key,
        "name": flag.name,
        "description": flag.description,
        "type": kind,
        "default_value": value_text(kind, flag.default_value),
        "enabled": "on" if flag.enabled else "",
        "experiment_id": flag.experiment_id or "",
        "experiment_param": flag.experiment_param or "",
    }
    for i, rule in enumerate(flag.rules):
        rule = rule if isinstance(rule, dict) else rule.model_dump()
        base = f"rules.{i}"
        values[f"{base}.audience_id"] = rule.get("audience_id") or ""
        values[f"{base}.rollout_percent"] = number_text(rule.get("rollout_percent", 100.0))
        values[f"{base}.value"] = value_text(kind, rule.get("value"))
        values.update(rule_tree.tree_values(rule.get("conditions"), f"{base}.conditions"))
    return values
