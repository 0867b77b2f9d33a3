"""The experiment form's sample-size and duration estimate: the design being edited (variant
weights, traffic share, alpha, power, sidedness, minimum detectable effect) plus the chosen
primary metric's baseline, read into the tools' ``SampleSizeRequest``.

The estimate fields are ``estimate.baseline_value``, ``estimate.std_dev`` (continuous
metrics) and ``estimate.expected_daily_traffic``; the rest comes from the experiment fields,
so a tools error on ``alpha`` is shown beside ``analysis.alpha``.
"""

from __future__ import annotations

from typing import Any

from avsb.server.dashboard.forms.common import FormData, Parsed, check, checked, optional, text
from avsb.server.dashboard.forms.experiment_form import MAX_VARIANTS
from avsb.server.tools.schemas import SampleSizeRequest

BINARY_METRICS = frozenset({"binary"})
"""Metric types planned as a rate; every other type is planned as a mean with a std dev."""
_PATHS = {
    "baseline_value": "estimate.baseline_value",
    "std_dev": "estimate.std_dev",
    "expected_daily_traffic": "estimate.expected_daily_traffic",
    "mde_pct": "analysis.mde_pct",
    "alpha": "analysis.alpha",
    "power": "analysis.power",
    "traffic_split": "variants",
    "variants_count": "variants",
    "audience_share_in_test": "traffic_percent",
}


def planning_type(metric_type: str) -> str:
    return "binary" if metric_type in BINARY_METRICS else "continuous"


def parse_estimate(form: FormData, metric_type: str) -> tuple[SampleSizeRequest | None, Parsed]:
    """The tools request for the design in ``form`` (None with field errors when the design
    or the estimate fields cannot be planned yet)."""
    parsed = Parsed()
    weights = []
    for i in range(MAX_VARIANTS):
        if text(form, f"variants.{i}.key"):
            weights.append(text(form, f"variants.{i}.weight") or "0")
    if not optional(form, "analysis.mde_pct"):
        parsed.add("analysis.mde_pct", "Set the minimum detectable effect to estimate.")
    if not optional(form, "estimate.baseline_value"):
        parsed.add("estimate.baseline_value", "Enter the metric's current value.")
    if not parsed.ok:
        return None, parsed
    traffic = optional(form, "traffic_percent") or "100"
    payload: dict[str, Any] = {
        "metric_type": planning_type(metric_type),
        "baseline_value": text(form, "estimate.baseline_value"),
        "std_dev": optional(form, "estimate.std_dev"),
        "alpha": optional(form, "analysis.alpha") or "0.05",
        "power": optional(form, "analysis.power") or "0.8",
        "two_sided": checked(form, "analysis.two_sided"),
        "traffic_split": weights,
        "variants_count": len(weights),
        "expected_daily_traffic": optional(form, "estimate.expected_daily_traffic"),
        "mde_pct": text(form, "analysis.mde_pct"),
    }
    try:
        payload["audience_share_in_test"] = float(traffic) / 100
    except ValueError:
        parsed.add("traffic_percent", "Enter a number.")
        return None, parsed
    request = check(SampleSizeRequest, payload, parsed)
    parsed.errors = {_field(path): message for path, message in parsed.errors.items()}
    return (request if parsed.ok else None), parsed


def _field(path: str) -> str:
    head = path.split(".")[0]
    for name, field in _PATHS.items():
        if head == name or path.endswith("." + name):
            return field
    return "estimate"
