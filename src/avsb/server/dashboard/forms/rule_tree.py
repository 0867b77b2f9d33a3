"""Rule trees (audiences, segments, flag rules) as forms, and "test this unit".

A tree edits as rows under one combinator (``all`` or ``any``): each row is an attribute,
an operator (every operator of the evaluation core, or ``segment``), a value and a
"not" box. ``<prefix>.rows.<i>.attribute`` / ``.operator`` / ``.value`` / ``.negate`` and
``<prefix>.combine`` are the fields. A tree that does not fit rows (nested groups) is
edited as JSON in ``<prefix>.json``; ``<prefix>.mode`` says which one was sent.

``explain`` evaluates a tree for one unit with the evaluation core and reports, node by
node, what matched: the answer of the "test this unit" box.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from avsb.server.dashboard.forms.common import FormData, Parsed, api_errors, checked, text
from avsb.server.errors import AvsbError
from avsb_sdk.evaluation.conditions import (
    NUMERIC_OPERATORS,
    OPERATORS,
    SET_OPERATORS,
    AllOf,
    AnyOf,
    Condition,
    InSegment,
    Leaf,
    Not,
    condition_to_dict,
    parse_condition,
)
from avsb_sdk.evaluation.errors import ConfigError
from avsb_sdk.evaluation.targeting import (
    Predicate,
    SegmentDefinition,
    compile_condition,
    compile_segments,
)

SEGMENT = "segment"
ROW_OPERATORS = (
    "eq", "neq", "contains", "in", "not_in", "gt", "gte", "lt", "lte", "regex", "exists",
    "semver_eq", "semver_gt", "semver_gte", "semver_lt", "semver_lte", SEGMENT,
)  # fmt: skip
"""Every operator the rows editor offers, in the order of its select."""
assert set(ROW_OPERATORS) == OPERATORS | {SEGMENT}
MAX_ROWS = 30
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_INDEX = re.compile(r"\[(\d+)\]")


def _scalar(operator: str, raw: str) -> Any:
    """A row's value as the tree stores it: numbers for numeric operators, else text."""
    if operator in NUMERIC_OPERATORS and _NUMBER.match(raw):
        number = float(raw)
        return (
            int(number)
            if number.is_integer() and "." not in raw and "e" not in raw.lower()
            else number
        )
    return raw


def _row_node(attribute: str, operator: str, raw: str) -> dict[str, Any]:
    if operator == SEGMENT:
        return {"segment": raw}
    if operator in SET_OPERATORS:
        items = [item.strip() for item in raw.split(",") if item.strip()]
        return {"attribute": attribute, "operator": operator, "values": items}
    if operator == "exists":
        return {"attribute": attribute, "operator": operator, "value": raw.lower() != "false"}
    return {"attribute": attribute, "operator": operator, "value": _scalar(operator, raw)}


def _filled_rows(form: FormData, prefix: str) -> list[int]:
    rows = []
    for i in range(MAX_ROWS):
        base = f"{prefix}.rows.{i}"
        if text(form, f"{base}.attribute") or text(form, f"{base}.value"):
            rows.append(i)
    return rows


def parse_tree(
    form: FormData, prefix: str, parsed: Parsed, *, required: bool = True
) -> tuple[dict[str, Any] | None, list[int]]:
    """The tree the rows (or the JSON) of ``prefix`` describe, checked by the evaluation
    core's grammar; errors go into ``parsed`` beside the row (``<prefix>.rows.<i>``) or the
    JSON box. Also returns the form rows used, in order (to map service errors back)."""
    if text(form, f"{prefix}.mode") == "json":
        raw = text(form, f"{prefix}.json")
        if not raw:
            if required:
                parsed.add(f"{prefix}.json", "Write a rule tree.")
            return None, []
        try:
            tree = json.loads(raw)
        except ValueError as exc:
            parsed.add(f"{prefix}.json", f"Not JSON: {exc}.")
            return None, []
        if not isinstance(tree, dict):
            parsed.add(f"{prefix}.json", "A rule tree is a JSON object.")
            return None, []
        _check(tree, prefix, [], parsed, json_box=True)
        return tree, []
    combine = text(form, f"{prefix}.combine", "all")
    if combine not in ("all", "any"):
        parsed.add(f"{prefix}.combine", "Choose all or any.")
        return None, []
    rows = _filled_rows(form, prefix)
    nodes = []
    for i in rows:
        base = f"{prefix}.rows.{i}"
        operator = text(form, f"{base}.operator", "eq")
        node = _row_node(text(form, f"{base}.attribute"), operator, text(form, f"{base}.value"))
        nodes.append({"not": node} if checked(form, f"{base}.negate") else node)
    if not nodes:
        if required:
            parsed.add(f"{prefix}.rows.0", "Add at least one rule.")
        return None, rows
    tree = {combine: nodes}
    _check(tree, prefix, rows, parsed, json_box=False)
    return tree, rows


def _check(tree: object, prefix: str, rows: list[int], parsed: Parsed, *, json_box: bool) -> None:
    try:
        parse_condition(tree, prefix)
    except ConfigError as exc:
        path = _INDEX.sub(r".\1", exc.path)
        where = f"{prefix}.json" if json_box else row_path(path, prefix, rows)
        parsed.add(where, exc.reason)


def row_path(path: str, prefix: str, rows: list[int]) -> str:
    """The form field an API path inside a rows-mode tree points at: ``conditions.all.2.value``
    -> ``conditions.rows.<rows[2]>`` (the row the person filled in)."""
    parts = path.removeprefix(prefix + ".").split(".")
    if len(parts) >= 2 and parts[0] in ("all", "any") and parts[1].isdigit():
        n = int(parts[1])
        if n < len(rows):
            return f"{prefix}.rows.{rows[n]}"
    return f"{prefix}.rows.0" if rows else path


def map_tree_errors(
    errors: Mapping[str, str], prefix: str, rows: list[int], mode: str
) -> dict[str, str]:
    """Service errors (API paths) on the tree of ``prefix`` moved beside its form fields."""
    out: dict[str, str] = {}
    for path, message in errors.items():
        if path == prefix or path.startswith(prefix + "."):
            path = f"{prefix}.json" if mode == "json" else row_path(path, prefix, rows)
        out.setdefault(path, message)
    return out


def refused_errors(
    exc: AvsbError, prefix: str, rows: list[int], values: Mapping[str, str]
) -> dict[str, str]:
    """The service's refusal of a form holding the tree of ``prefix``, beside its fields (the
    rows, or the JSON box when that is what was sent)."""
    return map_tree_errors(api_errors(exc), prefix, rows, values.get(f"{prefix}.mode", "rows"))


def named_values(name: str, key: str, description: str, tree: Mapping[str, Any] | None,
                 prefix: str) -> dict[str, str]:  # fmt: skip
    """The form values of a named resource defined by a rule tree (audience, segment)."""
    return {"name": name, "key": key, "description": description, **tree_values(tree, prefix)}


def _value_text(node: Mapping[str, Any]) -> str:
    if "values" in node:
        return ", ".join(str(v) for v in node["values"])
    value = node.get("value", True if node.get("operator") == "exists" else "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _row_of(node: Mapping[str, Any]) -> dict[str, str] | None:
    negate = False
    if set(node) == {"not"} and isinstance(node["not"], Mapping):
        node, negate = node["not"], True
    if set(node) == {"segment"}:
        row = {"attribute": "", "operator": SEGMENT, "value": str(node["segment"])}
    elif "attribute" in node:
        row = {
            "attribute": str(node["attribute"]),
            "operator": str(node.get("operator", "")),
            "value": _value_text(node),
        }
    else:
        return None
    row["negate"] = "on" if negate else ""
    return row


def tree_values(tree: Mapping[str, Any] | None, prefix: str) -> dict[str, str]:
    """The form fields showing a stored tree: rows when it is one all/any over leaves (or
    negated leaves and segments), the JSON box otherwise."""
    values: dict[str, str] = {f"{prefix}.combine": "all", f"{prefix}.mode": "rows"}
    if tree is None:
        return values
    values[f"{prefix}.json"] = json.dumps(tree, indent=2)
    rows = None
    if len(tree) == 1:
        ((kind, body),) = tree.items()
        if kind in ("all", "any") and isinstance(body, list):
            found = [_row_of(child) if isinstance(child, Mapping) else None for child in body]
            if all(row is not None for row in found) and len(found) <= MAX_ROWS:
                rows, values[f"{prefix}.combine"] = found, kind
    if rows is None:
        single = _row_of(tree)
        rows = [single] if single is not None else None
    if rows is None:
        values[f"{prefix}.mode"] = "json"
        return values
    for i, row in enumerate(rows):
        assert row is not None
        for name, value in row.items():
            values[f"{prefix}.rows.{i}.{name}"] = value
    return values


@dataclass(frozen=True)
class NodeResult:
    """One node of an explained tree: its depth, a readable description and its answer."""

    depth: int
    label: str
    matched: bool


def describe(condition: Condition) -> str:
    if isinstance(condition, Leaf):
        value = list(condition.values) if condition.values is not None else condition.value
        return f"{condition.attribute} {condition.operator} {json.dumps(value)}"
    if isinstance(condition, AllOf):
        return "all of"
    if isinstance(condition, AnyOf):
        return "any of"
    if isinstance(condition, Not):
        return "not"
    return f"in segment {condition.segment_id}"


def explain(
    tree: object,
    attributes: Mapping[str, object],
    unit_id: str,
    segments: Mapping[str, SegmentDefinition] | None = None,
) -> list[NodeResult]:
    """Every node of ``tree``, depth first, with whether it matches this unit (the same
    predicates the evaluation core serves); ConfigError when the tree or a segment is bad."""
    compiled = compile_segments(segments or {})
    out: list[NodeResult] = []

    def visit(node: Condition, depth: int) -> None:
        predicate: Predicate = compile_condition(node, compiled)
        out.append(NodeResult(depth, describe(node), predicate(attributes, unit_id)))
        if isinstance(node, AllOf | AnyOf):
            for child in node.conditions:
                visit(child, depth + 1)
        elif isinstance(node, Not):
            visit(node.condition, depth + 1)

    visit(parse_condition(tree), 0)
    return out


def parse_attributes(raw: str) -> dict[str, object]:
    """The "test this unit" attributes: a JSON object, or ``name=value`` lines (numbers and
    true / false typed as JSON would type them)."""
    raw = raw.strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise ValueError("Attributes are a JSON object.")
        return loaded
    out: dict[str, object] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"Line {number}: write name=value.")
        value = value.strip()
        try:
            out[name.strip()] = (
                json.loads(value) if value in ("true", "false") or _NUMBER.match(value) else value
            )
        except ValueError:
            out[name.strip()] = value
    return out


def normalised(tree: object) -> dict[str, object]:
    """A valid tree in its canonical JSON form (what the evaluation core reads)."""
    return condition_to_dict(parse_condition(tree))


__all__ = [
    "ROW_OPERATORS",
    "InSegment",
    "NodeResult",
    "explain",
    "map_tree_errors",
    "normalised",
    "parse_attributes",
    "parse_tree",
    "row_path",
    "tree_values",
]
