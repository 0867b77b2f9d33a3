"""The tools page's forms: which fields each calculator of ``/api/tools/*`` asks for, and the
submitted strings turned into the API's request body (lists, booleans, variant lines)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from avsb.server.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str = "number"  # number | text | list | bool | choice | variants
    default: str = ""
    help: str | None = None
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True, slots=True)
class Tool:
    slug: str
    title: str
    summary: str
    fields: tuple[Field, ...] = field(default_factory=tuple)


_PLAN = (
    Field("metric_type", "Metric type", "choice", "binary", choices=("binary", "continuous")),
    Field("baseline_value", "Baseline (rate or mean)", default="0.1", required=True),
    Field("std_dev", "Standard deviation (continuous metrics)"),
    Field("alpha", "Alpha", default="0.05"),
    Field("power", "Power", default="0.8"),
    Field("variants_count", "Variants (with control)", default="2"),
    Field("expected_daily_traffic", "Daily traffic (units)", default="1000"),
)
TOOLS = (
    Tool("sample-size", "Sample size and duration",
         "Units per variant to detect a relative lift, and the days it takes.",
         (*_PLAN, Field("mde_pct", "Minimum detectable effect (%)", default="5", required=True))),
    Tool("sensitivity", "Sensitivity",
         "The smallest lift the traffic of a number of days can detect.",
         (*_PLAN, Field("days", "Days", default="14", required=True))),
    Tool("srm", "Sample ratio mismatch check",
         "Whether observed units per variant fit the configured split.",
         (Field("observed", "Observed units per variant", "list", "5000, 5100", required=True,
                help="Comma separated, control first"),
          Field("weights", "Weights", "list", help="Comma separated; equal when empty"),
          Field("threshold", "Threshold", default="0.001"),
          Field("sequential", "Sequential test", "bool"))),
    Tool("multiple-testing", "Multiple testing correction",
         "Adjusted p-values of a family of comparisons.",
         (Field("p_values", "p-values", "list", "0.01, 0.04, 0.03", required=True,
                help="Comma separated"),
          Field("method", "Method", "choice", "holm", choices=("holm", "bh", "bonferroni")),
          Field("alpha", "Alpha", default="0.05"))),
    Tool("analyze", "Analyze summary statistics",
         "Compare variants from their counts and sums.",
         (Field("metric_type", "Metric type", "choice", "binary",
                choices=("binary", "continuous")),
          Field("method", "Method", "choice", "frequentist",
                choices=("frequentist", "bayesian", "sequential")),
          Field("variants", "Variants", "variants", "control, 1000, 100\ntreatment, 1000, 120",
                required=True,
                help="One per line, control first: key, units, sum[, sum of squares]"),
          Field("alpha", "Alpha", default="0.05"))),
    Tool("bandit", "Bandit simulation",
         "Thompson sampling on true conversion rates: how traffic shifts to the best arm.",
         (Field("true_rates", "True rates per arm", "list", "0.1, 0.12, 0.11", required=True,
                help="Comma separated"),
          Field("steps", "Steps", default="50"),
          Field("batch_size", "Units per step", default="100"),
          Field("seed", "Seed", default="0"))),
)  # fmt: skip
BY_SLUG = {tool.slug: tool for tool in TOOLS}


def _numbers(name: str, text: str) -> list[float]:
    try:
        return [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ValidationFailed(
            "Some fields need attention.",
            [{"path": name, "message": "a comma-separated list of numbers", "type": "list"}],
        ) from None


def _variants(name: str, text: str) -> list[dict[str, Any]]:
    out = []
    for i, line in enumerate(line for line in text.splitlines() if line.strip()):
        parts = [p.strip() for p in line.split(",")]
        try:
            if not 3 <= len(parts) <= 4:
                raise ValueError
            row: dict[str, Any] = {"key": parts[0], "n": int(parts[1]), "sum": float(parts[2])}
            if len(parts) == 4:
                row["sum_squares"] = float(parts[3])
        except ValueError:
            message = f"line {i + 1}: key, units, sum[, sum of squares]"
            raise ValidationFailed(
                "Some fields need attention.", [{"path": name, "message": message, "type": "line"}]
            ) from None
        out.append(row)
    return out


def body(tool: Tool, values: Mapping[str, str]) -> dict[str, Any]:
    """The API request body of ``tool`` from the form's strings (empty fields left out, so the
    API's defaults apply)."""
    out: dict[str, Any] = {}
    for f in tool.fields:
        raw = values.get(f.name, "").strip()
        if f.kind == "bool":
            out[f.name] = raw in ("true", "on", "1")
        elif raw == "":
            continue
        elif f.kind == "list":
            numbers = _numbers(f.name, raw)
            is_int = f.name == "observed"
            out[f.name] = [int(v) if is_int and v.is_integer() else v for v in numbers]
        elif f.kind == "variants":
            out[f.name] = _variants(f.name, raw)
        else:
            out[f.name] = raw
    if tool.slug == "analyze" and out.get("metric_type") == "binary":
        for v in out.get("variants", []):
            v.pop("sum_squares", None)
    return out


def defaults(tool: Tool) -> dict[str, str]:
    return {f.name: f.default for f in tool.fields}
