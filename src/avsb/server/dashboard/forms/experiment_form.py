"""The experiment form: variants with weights and params, targeting, layer, metric roles and
analysis settings, read into ``ExperimentCreate`` / ``ExperimentPatch`` payloads and back.
The same design fields (without project, key and name) edit a template's ``ExperimentDesign``
(``parse_design`` / ``design_values``).

Field names are the API's paths: ``variants.0.key``, ``variants.0.weight``,
``variants.0.params`` (one ``name=value`` per line), ``traffic_percent``, ``analysis.alpha``;
a metric's role is the select ``metric_role.<metric id>`` (none / primary / secondary /
guardrail), whose API path is ``metrics.<role>.<position>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

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
from avsb.server.experiments.schemas import ExperimentCreate, ExperimentDesign, ExperimentPatch

MAX_VARIANTS = 10
ROLES = ("primary", "secondary", "guardrail")
ANALYSIS_TEXT = ("method", "correction")
ANALYSIS_NUMBERS = ("alpha", "power", "planned_sample_size", "mde_pct")
ANALYSIS_FLAGS = ("cuped", "two_sided")
FROZEN_FIELDS = ("key", "variants", "exclusion_group_id", "audience_id")
"""What the form cannot change once the experiment has started (the service's ``FROZEN``)."""
_PARAM_LINE = re.compile(r"^([^=]+)=(.*)$")
_VARIANT_PATH = re.compile(r"^variants\.(\d+)(\..*)?$")
_METRIC_PATH = re.compile(r"^metrics\.(primary|secondary|guardrail)\.(\d+)$")


def parse_params(raw: str) -> dict[str, str]:
    """``name=value`` lines (blank lines skipped) into a dict; ValueError names the bad line."""
    params: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        match = _PARAM_LINE.match(line)
        if match is None or not match.group(1).strip():
            raise ValueError(f"Line {number}: write name=value.")
        name = match.group(1).strip()
        if name in params:
            raise ValueError(f"Line {number}: {name!r} is set twice.")
        params[name] = match.group(2).strip()
    return params


def params_text(params: Mapping[str, str]) -> str:
    return "\n".join(f"{name}={value}" for name, value in params.items())


def _variant_rows(form: FormData) -> list[int]:
    """Indices of the variant rows the person filled in (a row with any field set)."""
    rows = []
    for i in range(MAX_VARIANTS):
        names = (f"variants.{i}.key", f"variants.{i}.weight", f"variants.{i}.params")
        if any(text(form, name) for name in names):
            rows.append(i)
    return rows


def _variants(form: FormData, parsed: Parsed) -> tuple[list[dict[str, Any]], list[int]]:
    rows = _variant_rows(form)
    variants = []
    for i in rows:
        try:
            params = parse_params(form.get(f"variants.{i}.params", [""])[0])
        except ValueError as exc:
            parsed.add(f"variants.{i}.params", str(exc))
            params = {}
        weight = text(form, f"variants.{i}.weight")
        variants.append(
            {"key": text(form, f"variants.{i}.key"), "weight": weight, "params": params}
        )
    return variants, rows


def metric_roles(form: FormData) -> dict[str, list[str]]:
    """``{role: [metric id, ...]}`` from the ``metric_role.<id>`` selects, in form order."""
    roles: dict[str, list[str]] = {role: [] for role in ROLES}
    for name, values in form.items():
        if name.startswith("metric_role.") and values and values[0] in roles:
            roles[values[0]].append(name.removeprefix("metric_role."))
    return roles


def _analysis(form: FormData) -> dict[str, Any]:
    analysis: dict[str, Any] = {name: checked(form, f"analysis.{name}") for name in ANALYSIS_FLAGS}
    for name in ANALYSIS_TEXT:
        if text(form, f"analysis.{name}"):
            analysis[name] = text(form, f"analysis.{name}")
    analysis["stopping_rule"] = optional(form, "analysis.stopping_rule")
    for name in ANALYSIS_NUMBERS:
        analysis[name] = optional(form, f"analysis.{name}")
    return {k: v for k, v in analysis.items() if v is not None or k == "stopping_rule"}


def form_path(path: str, rows: list[int], roles: Mapping[str, list[str]]) -> str:
    """The form field an API error path points at: the n-th sent variant is form row
    ``rows[n]``; ``metrics.primary.0`` is the role select of that metric."""
    match = _VARIANT_PATH.match(path)
    if match and int(match.group(1)) < len(rows):
        return f"variants.{rows[int(match.group(1))]}{match.group(2) or ''}"
    match = _METRIC_PATH.match(path)
    if match:
        listed = roles.get(match.group(1), [])
        position = int(match.group(2))
        if position < len(listed):
            return f"metric_role.{listed[position]}"
    return path


def map_errors(
    errors: Mapping[str, str], rows: list[int], roles: Mapping[str, list[str]]
) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, message in errors.items():
        out.setdefault(form_path(path, rows, roles), message)
    return out


def _targeting(form: FormData, parsed: Parsed) -> tuple[dict[str, Any], list[int]]:
    """What assigns units (variants, layer, audience): fixed once an experiment has started."""
    variants, rows = _variants(form, parsed)
    payload = {
        "variants": variants,
        "exclusion_group_id": optional(form, "exclusion_group_id"),
        "audience_id": optional(form, "audience_id"),
    }
    return payload, rows


def _design_rest(form: FormData) -> dict[str, Any]:
    """The rest of the design: hypothesis, traffic share, metric roles and analysis."""
    return {
        "hypothesis": text(form, "hypothesis"),
        "traffic_percent": text(form, "traffic_percent") or "100",
        "metrics": metric_roles(form),
        "analysis": _analysis(form),
    }


def parse_experiment(
    form: FormData, *, creating: bool, frozen: bool = False
) -> tuple[Parsed, list[int], dict[str, list[str]]]:
    """The payload of ``POST`` (``creating``) or ``PATCH`` an experiment, checked by the API's
    body schema, plus the variant rows and metric roles (to map service errors back with
    ``map_errors``). ``frozen``: the experiment has started, so what assigns units is left
    out (the form shows it read-only)."""
    parsed = Parsed()
    payload: dict[str, Any] = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        **_design_rest(form),
    }
    rows: list[int] = []
    if not frozen:
        targeting, rows = _targeting(form, parsed)
        payload.update(targeting)
        payload["key"] = text(form, "key")
    if creating:
        payload["project_id"] = text(form, "project_id")
        if optional(form, "salt"):
            payload["salt"] = text(form, "salt")
    roles = payload["metrics"]
    body = check(ExperimentCreate if creating else ExperimentPatch, payload, parsed)
    if body is not None and parsed.ok:
        parsed.payload = payload_of(body, creating)
    parsed.errors = map_errors(parsed.errors, rows, roles)
    return parsed, rows, roles


def parse_design(form: FormData) -> tuple[Parsed, list[int], dict[str, list[str]]]:
    """A template's ``ExperimentDesign`` from the experiment form's design fields (no project,
    key or name), checked by the API's schema, plus the variant rows and metric roles (to map
    service errors back with ``map_errors``)."""
    parsed = Parsed()
    targeting, rows = _targeting(form, parsed)
    payload = {**_design_rest(form), **targeting}
    roles = payload["metrics"]
    body = check(ExperimentDesign, payload, parsed)
    if body is not None and parsed.ok:
        parsed.payload = body.model_dump()
    parsed.errors = map_errors(parsed.errors, rows, roles)
    return parsed, rows, roles


def experiment_values(experiment: Any) -> dict[str, str]:
    """The form fields showing a stored experiment (an ``Experiment`` or ``ExperimentOut``)."""
    values: dict[str, str] = {
        "project_id": experiment.project_id,
        "key": experiment.key,
        "name": experiment.name,
        "description": experiment.description,
    }
    design = {name: getattr(experiment, name) for name in ExperimentDesign.model_fields}
    return {**values, **design_values(design)}


def design_values(design: Mapping[str, Any]) -> dict[str, str]:
    """The form's design fields showing an ``ExperimentDesign`` (a dict such as a template's
    body, or an experiment's attributes)."""
    values: dict[str, str] = {
        "hypothesis": design.get("hypothesis") or "",
        "traffic_percent": number_text(design.get("traffic_percent", 100)),
        "exclusion_group_id": design.get("exclusion_group_id") or "",
        "audience_id": design.get("audience_id") or "",
    }
    for i, variant in enumerate(_plain(design.get("variants") or [])):
        values[f"variants.{i}.key"] = variant["key"]
        values[f"variants.{i}.weight"] = number_text(variant["weight"])
        values[f"variants.{i}.params"] = params_text(variant.get("params") or {})
    metrics = _plain(design.get("metrics")) or {}
    for role in ROLES:
        for metric_id in metrics.get(role, []):
            values[f"metric_role.{metric_id}"] = role
    analysis = _plain(design.get("analysis")) or {}
    for name in ANALYSIS_TEXT:
        values[f"analysis.{name}"] = str(analysis.get(name) or "")
    values["analysis.stopping_rule"] = str(analysis.get("stopping_rule") or "")
    for name in ANALYSIS_NUMBERS:
        values[f"analysis.{name}"] = number_text(analysis.get(name))
    for name in ANALYSIS_FLAGS:
        values[f"analysis.{name}"] = "on" if analysis.get(name) else ""
    return values


def new_values() -> dict[str, str]:
    """The create form's starting point: control and treatment at 50 / 50, default analysis."""
    values = {
        "traffic_percent": "100",
        "variants.0.key": "control",
        "variants.0.weight": "50",
        "variants.1.key": "treatment",
        "variants.1.weight": "50",
        "analysis.method": "frequentist",
        "analysis.correction": "holm",
        "analysis.alpha": "0.05",
        "analysis.power": "0.8",
        "analysis.cuped": "on",
        "analysis.two_sided": "on",
    }
    return values


def submitted_values(form: FormData) -> dict[str, str]:
    """The form as sent, one string per field (to show it again beside its errors)."""
    return {name: values[0] for name, values in form.items() if values and name != "csrf_token"}


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def variant_row_count(values: Mapping[str, str], spare: int = 1) -> int:
    """How many variant rows the form shows: the filled ones plus ``spare`` empty ones."""
    filled = [i for i in range(MAX_VARIANTS) if values.get(f"variants.{i}.key")]
    return min(MAX_VARIANTS, max([*filled, 1]) + 1 + spare)


def changed_fields(
    labels: Iterable[tuple[str, str]], yours: Mapping[str, str], current: Mapping[str, str]
) -> list[tuple[str, str, str, str]]:
    """(name, label, yours, current) of every field whose two versions differ."""
    return [
        (name, label, yours.get(name, ""), current.get(name, ""))
        for name, label in labels
        if yours.get(name, "") != current.get(name, "")
    ]
