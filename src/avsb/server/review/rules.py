"""The design review's rules: a design in, plain-language findings out. No I/O.

Each rule reads a ``Design`` (what the experiment plans, plus the running experiments the
caller found around it) and returns ``Finding`` s with a severity, a message that carries its
numbers, and the JSON path of the design field it concerns. Power and sample size come from
``avsb.stats.power``, the same planning the sample-size tool and the results pages use.
docs/review.md lists each rule, its threshold and its source.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from avsb.stats import power
from avsb.stats.errors import StatsInputError

Severity = Literal["info", "warning", "error"]
Role = Literal["primary", "secondary", "guardrail"]
Direction = Literal["increase", "decrease"]
SEVERITY_ORDER: Mapping[str, int] = {"error": 0, "warning": 1, "info": 2}

# Power is checked for these metric types; the others have no closed-form planning here.
_PLAN_TYPES: Mapping[str, power.PlanMetric] = {
    "binary": "binary",
    "continuous": "continuous",
    "count": "continuous",
    "sum": "continuous",
    "mean": "continuous",
    "ratio": "continuous",
}
# Below this share of the units it needs, a test is called badly underpowered (an error).
BADLY_UNDERPOWERED = 0.5
MIN_HYPOTHESIS_WORDS = 6


@dataclass(frozen=True, slots=True)
class MetricPlan:
    """A metric in its role; baseline (rate, or mean with std_dev) when the caller knows it."""

    key: str
    role: Role
    metric_type: str
    path: str
    name: str = ""
    lower_is_better: bool = False
    baseline_value: float | None = None
    std_dev: float | None = None
    expected_direction: Direction | None = None


@dataclass(frozen=True, slots=True)
class VariantPlan:
    key: str
    weight: float
    params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AnalysisPlan:
    """The analysis settings; ``planned_sample_size`` is per variant, ``planned_looks`` the
    number of times results will be read to decide whether to stop."""

    method: str = "frequentist"
    stopping_rule: str = "fixed_horizon"
    alpha: float = 0.05
    power: float = 0.8
    two_sided: bool = True
    mde_pct: float | None = None
    planned_sample_size: int | None = None
    planned_looks: int | None = None


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A running (or paused) experiment of the same project."""

    key: str
    exclusion_group_id: str | None
    audience_id: str | None
    traffic_percent: float
    param_keys: frozenset[str]
    path: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Design:
    """What the review reads. ``expected_daily_units``: units a day eligible for the
    experiment before its ``traffic_percent`` is applied."""

    hypothesis: str
    variants: tuple[VariantPlan, ...]
    metrics: tuple[MetricPlan, ...]
    analysis: AnalysisPlan
    traffic_percent: float = 100.0
    expected_daily_units: float | None = None
    planned_duration_days: float | None = None
    exclusion_group_id: str | None = None
    audience_id: str | None = None
    running: tuple[Neighbour, ...] = ()

    @property
    def primary(self) -> tuple[MetricPlan, ...]:
        return tuple(m for m in self.metrics if m.role == "primary")

    @property
    def param_keys(self) -> frozenset[str]:
        return frozenset(k for v in self.variants for k in v.params)


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    field: str | None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Review:
    findings: tuple[Finding, ...]

    @property
    def counts(self) -> dict[str, int]:
        return {
            s: sum(f.severity == s for f in self.findings) for s in ("error", "warning", "info")
        }

    @property
    def status(self) -> Literal["ready", "needs_attention", "blocked"]:
        """blocked: at least one error; needs_attention: warnings only; ready: neither."""
        counts = self.counts
        if counts["error"]:
            return "blocked"
        return "needs_attention" if counts["warning"] else "ready"


Rule = Callable[[Design], list[Finding]]


def review(design: Design) -> Review:
    """Every rule's findings, errors first (each severity in rule order)."""
    found = [finding for rule in RULES for finding in rule(design)]
    found.sort(key=lambda f: SEVERITY_ORDER[f.severity])
    return Review(tuple(found))


# --- power: underpowered, too many variants ------------------------------------------------


def _units(n: float) -> str:
    return f"{round(n):,}"


def _pct(x: float) -> str:
    return f"{x:.3g}%"


def _available_units(design: Design) -> tuple[float, str] | None:
    """Units the plan gives all arms together, and how that was worked out."""
    planned = design.analysis.planned_sample_size
    if planned is not None:
        k = len(design.variants)
        return planned * k, f"the planned {_units(planned)} units per variant"
    daily, days = design.expected_daily_units, design.planned_duration_days
    if daily is not None and days is not None:
        units = daily * design.traffic_percent / 100 * days
        return units, f"{days:g} days at {_units(daily * design.traffic_percent / 100)} units a day"
    return None


def _traffic(design: Design, variants_count: int | None = None) -> power.Traffic:
    """The design's split, or an equal split over ``variants_count`` arms."""
    split = None if variants_count else tuple(v.weight for v in design.variants)
    return power.Traffic(
        variants_count=variants_count or len(design.variants),
        traffic_split=split,
        expected_daily_traffic=design.expected_daily_units,
        audience_share_in_test=design.traffic_percent / 100,
    )


def _config(design: Design) -> power.PowerConfig:
    a = design.analysis
    return power.PowerConfig(alpha=a.alpha, power=a.power, two_sided=a.two_sided)


def _baseline(metric: MetricPlan) -> power.Baseline | Finding:
    kind = _PLAN_TYPES.get(metric.metric_type)
    if kind is None:
        return Finding(
            "power_not_checked",
            "info",
            f"Power is not checked for the {metric.metric_type} metric {metric.key!r}: "
            "there is no closed-form sample size for it here.",
            metric.path,
        )
    if metric.baseline_value is None or (kind == "continuous" and metric.std_dev is None):
        needs = "its baseline rate" if kind == "binary" else "its baseline mean and std_dev"
        return Finding(
            "baseline_unknown",
            "info",
            f"Give the primary metric {metric.key!r} {needs} to check whether the test has "
            "enough units.",
            metric.path,
        )
    try:
        return power.Baseline(kind, metric.baseline_value, metric.std_dev)
    except StatsInputError as error:
        return Finding("power_not_computed", "warning", error.message, metric.path)


def check_power(design: Design) -> list[Finding]:
    """underpowered / sample_size / detectable_effect / traffic_unknown for the first primary."""
    if not design.primary:
        return []
    metric = design.primary[0]
    baseline = _baseline(metric)
    if isinstance(baseline, Finding):
        return [baseline]
    available = _available_units(design)
    mde = design.analysis.mde_pct
    try:
        if mde is None:
            return [_no_mde(design, baseline, available)]
        plan = power.sample_size(baseline, mde / 100, _traffic(design), _config(design))
        return _compare(design, metric, baseline, plan, available)
    except StatsInputError as error:
        return [Finding("power_not_computed", "warning", error.message, "analysis.mde_pct")]


def _detectable(design: Design, baseline: power.Baseline, units: float) -> float | None:
    """The smallest relative lift (percent) ``units`` in all detect with the planned power."""
    split = tuple(v.weight for v in design.variants)
    # sensitivity() takes traffic x days; one "day" of all the units is the same total.
    try:
        traffic = power.Traffic(len(design.variants), split, units)
        found = power.sensitivity(baseline, traffic, 1.0, _config(design))
    except StatsInputError:  # too few units to split at all
        return None
    return None if found.mde_relative is None else found.mde_relative * 100


def _no_mde(
    design: Design, baseline: power.Baseline, available: tuple[float, str] | None
) -> Finding:
    detectable = _detectable(design, baseline, available[0]) if available else None
    tail = (
        f" With {available[1]} it can detect a lift of about {_pct(detectable)} or more."
        if available and detectable is not None
        else ""
    )
    return Finding(
        "no_mde",
        "warning",
        "The design does not say what effect it must detect (analysis.mde_pct), so nobody can "
        f"tell whether it has enough units.{tail}",
        "analysis.mde_pct",
        {"detectable_mde_pct": detectable},
    )


def _compare(
    design: Design,
    metric: MetricPlan,
    baseline: power.Baseline,
    plan: power.SampleSizePlan,
    available: tuple[float, str] | None,
) -> list[Finding]:
    a = design.analysis
    need = plan.total_sample_size
    need_text = (
        f"detecting a {_pct(a.mde_pct or 0)} lift in {metric.key!r} with {a.power:.0%} power "
        f"at alpha {a.alpha:g} needs {_units(need)} units "
        f"({', '.join(_units(n) for n in plan.sample_size_per_variant)} per variant)"
    )
    if plan.estimated_duration_days is not None:
        need_text += f", about {plan.estimated_duration_days} days at the expected traffic"
    if a.method == "sequential" or a.stopping_rule == "sequential":
        need_text += " (sized for a fixed horizon: a sequential test needs somewhat more)"
    details: dict[str, Any] = {
        "required_total": need,
        "required_per_variant": list(plan.sample_size_per_variant),
        "required_days": plan.estimated_duration_days,
        "method": plan.method,
    }
    if available is None:
        hint = "" if design.expected_daily_units else " Give expected_daily_units for a duration."
        return [Finding("sample_size", "info", f"Sizing: {need_text}.{hint}", "analysis", details)]
    units, how = available
    details["available_total"] = round(units)
    if units >= need:
        msg = f"Enough units: {need_text}; {how} give {_units(units)}."
        return [Finding("power_ok", "info", msg, "analysis", details)]
    detectable = _detectable(design, baseline, units)
    details["detectable_mde_pct"] = detectable
    reach = f" It can detect lifts of about {_pct(detectable)} or more." if detectable else ""
    severity: Severity = "error" if units < BADLY_UNDERPOWERED * need else "warning"
    found = [
        Finding(
            "underpowered",
            severity,
            f"Underpowered: {need_text}; {how} give only {_units(units)} "
            f"({units / need:.0%} of them).{reach}",
            "analysis.mde_pct",
            details,
        )
    ]
    return found + _fewer_variants(design, baseline, units)


def _fewer_variants(design: Design, baseline: power.Baseline, units: float) -> list[Finding]:
    """too_many_variants: the most arms (equal split) that the available units would power."""
    k = len(design.variants)
    mde = (design.analysis.mde_pct or 0) / 100
    for m in range(k - 1, 1, -1):
        plan = power.sample_size(baseline, mde, _traffic(design, m), _config(design))
        if plan.total_sample_size <= units:
            share = min(v.weight for v in design.variants[1:])
            message = (
                f"Too many variants for the traffic: with {k} variants the smallest treatment "
                f"gets {share:g}% of the units and alpha is split over {k - 1} comparisons "
                f"({design.analysis.alpha / (k - 1):.3g} each). {m} variants with an equal "
                f"split would need {_units(plan.total_sample_size)} units, which the plan has."
            )
            details = {
                "variants": k,
                "variants_that_fit": m,
                "required_total": plan.total_sample_size,
            }
            return [Finding("too_many_variants", "warning", message, "variants", details)]
    return []


# --- metrics: guardrail, primary metric and its direction ----------------------------------


def check_metrics(design: Design) -> list[Finding]:
    found: list[Finding] = []
    if not design.primary:
        found.append(
            Finding(
                "no_primary_metric",
                "error",
                "No primary metric: the experiment has nothing to decide on.",
                "metrics",
            )
        )
    elif len(design.primary) > 1:
        keys = ", ".join(repr(m.key) for m in design.primary)
        found.append(
            Finding(
                "many_primary_metrics",
                "info",
                f"{len(design.primary)} primary metrics ({keys}): say in advance which one "
                "decides, or correct for testing several.",
                "metrics",
            )
        )
    if not any(m.role == "guardrail" for m in design.metrics):
        found.append(
            Finding(
                "no_guardrail",
                "warning",
                "No guardrail metric: nothing would flag a win on the primary metric that hurts "
                "something else (errors, latency, revenue, unsubscribes).",
                "metrics",
            )
        )
    return found


_UP = frozenset((
    "increase", "increases", "increased", "raise", "raises", "more", "higher", "improve",
    "improves", "grow", "grows", "boost", "boosts", "lift", "lifts", "rise", "rises", "up",
))  # fmt: skip
_DOWN = frozenset((
    "decrease", "decreases", "decreased", "reduce", "reduces", "lower", "lowers", "fewer",
    "less", "drop", "drops", "fall", "falls", "shrink", "shrinks", "cut", "cuts", "shorten",
    "shortens",
))  # fmt: skip
_REASON = re.compile(r"\b(because|since|as a result of|due to|so that|which)\b", re.IGNORECASE)


def _outcome_clause(hypothesis: str) -> str:
    """The 'then ... because' part of an if/then hypothesis, else the whole text."""
    text = hypothesis.lower()
    if " then " in text:
        text = text.rsplit(" then ", 1)[1]
    return re.split(r"\bbecause\b", text, maxsplit=1)[0]


def hypothesis_direction(hypothesis: str) -> Direction | None:
    """The direction the hypothesis expects, if exactly one is named in its outcome."""
    words = set(re.findall(r"[a-z]+", _outcome_clause(hypothesis)))
    up, down = bool(words & _UP), bool(words & _DOWN)
    if up == down:
        return None
    return "increase" if up else "decrease"


def check_direction(design: Design) -> list[Finding]:
    """primary_direction: the expected move of a primary metric against its lower_is_better."""
    found: list[Finding] = []
    stated = hypothesis_direction(design.hypothesis)
    for metric in design.primary:
        expected = metric.expected_direction or stated
        if expected is None:
            continue
        better: Direction = "decrease" if metric.lower_is_better else "increase"
        if expected == better:
            continue
        one_sided = not design.analysis.two_sided
        setting = "lower_is_better" if metric.lower_is_better else "higher_is_better"
        message = (
            f"The hypothesis expects {metric.key!r} to {expected}, but the metric is "
            f"{setting.replace('_', ' ')}: the expected result would read as a loss."
        )
        if one_sided:
            message += " The test is one-sided toward improvement, so it cannot detect it."
        message += " Fix the metric's lower_is_better or the hypothesis."
        details = {"expected": expected, "lower_is_better": metric.lower_is_better}
        severity: Severity = "error" if one_sided else "warning"
        found.append(Finding("primary_direction", severity, message, metric.path, details))
    return found


def check_hypothesis(design: Design) -> list[Finding]:
    """unclear_hypothesis: too short, or missing the metric, the direction or the reason."""
    text = design.hypothesis.strip()
    template = "If we <change>, then <metric> will <increase/decrease> because <reason>."
    if not text:
        return [
            Finding(
                "unclear_hypothesis",
                "warning",
                f"No hypothesis. Write one before starting: {template}",
                "hypothesis",
                {"missing": ["change", "metric", "direction", "reason"]},
            )
        ]
    missing: list[str] = []
    if len(text.split()) < MIN_HYPOTHESIS_WORDS:
        missing.append("change")
    lowered = text.lower().replace("_", " ")
    names = {n.lower().replace("_", " ") for m in design.metrics for n in (m.key, m.name) if n}
    if design.metrics and not any(n in lowered for n in names):
        missing.append("metric")
    has_direction = any(m.expected_direction for m in design.primary)
    if not has_direction and hypothesis_direction(text) is None:
        missing.append("direction")
    if not _REASON.search(text):
        missing.append("reason")
    if not missing:
        return []
    return [
        Finding(
            "unclear_hypothesis",
            "warning",
            f"The hypothesis does not say {_join(missing)}. Write it as: {template}",
            "hypothesis",
            {"missing": missing},
        )
    ]


def _join(parts: list[str]) -> str:
    named = {
        "change": "what changes (it is very short)",
        "metric": "which of the experiment's metrics should move",
        "direction": "in which direction",
        "reason": "why",
    }
    words = [named[p] for p in parts]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# --- variants ------------------------------------------------------------------------------


def check_variants(design: Design) -> list[Finding]:
    """no_op_variant: a treatment equal to the control; duplicate_variant: equal treatments."""
    found: list[Finding] = []
    control = design.variants[0]
    seen: dict[tuple[tuple[str, str], ...], str] = {}
    for i, variant in enumerate(design.variants[1:], start=1):
        params = tuple(sorted(variant.params.items()))
        path = f"variants.{i}.params"
        if dict(variant.params) == dict(control.params):
            what = "no parameters" if not params else f"the same parameters ({dict(params)})"
            found.append(
                Finding(
                    "no_op_variant",
                    "warning",
                    f"Variant {variant.key!r} sets {what} as the control {control.key!r}: it "
                    "changes nothing, so it can only measure noise.",
                    path,
                    {"variant": variant.key},
                )
            )
        elif params in seen:
            found.append(
                Finding(
                    "duplicate_variant",
                    "warning",
                    f"Variants {seen[params]!r} and {variant.key!r} set the same parameters: "
                    "they split traffic without testing anything new.",
                    path,
                    {"variant": variant.key, "same_as": seen[params]},
                )
            )
        seen.setdefault(params, variant.key)
    return found


# --- stopping: peeking without a sequential method -----------------------------------------


def check_peeking(design: Design) -> list[Finding]:
    a = design.analysis
    if a.method != "frequentist" or a.stopping_rule == "sequential":
        return []
    if a.planned_looks is not None and a.planned_looks > 1:
        return [
            Finding(
                "peeking",
                "error",
                f"The plan reads the results {a.planned_looks} times with a fixed-horizon test: "
                f"stopping at the first significant look makes false positives far more likely "
                f"than alpha {a.alpha:g}. Use the sequential method (always-valid p-values), or "
                "decide once, at the planned sample size.",
                "analysis.planned_looks",
                {"planned_looks": a.planned_looks},
            )
        ]
    if a.planned_sample_size is None and design.planned_duration_days is None:
        return [
            Finding(
                "peeking_risk",
                "warning",
                "A fixed-horizon test with no planned sample size or duration: the stopping "
                "time would be chosen while watching the results, which is peeking. Set "
                "analysis.planned_sample_size (or a duration), or use the sequential method.",
                "analysis.planned_sample_size",
            )
        ]
    return []


# --- collisions with running experiments ---------------------------------------------------


def check_collisions(design: Design) -> list[Finding]:
    """layer_full / layer_shared in the exclusion group; audience_collision / audience_overlap
    with running experiments outside it."""
    found: list[Finding] = []
    group = design.exclusion_group_id
    in_layer = [n for n in design.running if group is not None and n.exclusion_group_id == group]
    if in_layer:
        found.append(_layer(design, in_layer))
    for n in design.running:
        if n in in_layer:
            continue
        targeted = n.audience_id is not None and design.audience_id is not None
        if targeted and n.audience_id != design.audience_id:
            continue  # different audiences: disjointness is not worked out here
        found.append(_overlap(design, n))
    return found


def _layer(design: Design, in_layer: list[Neighbour]) -> Finding:
    used = sum(n.traffic_percent for n in in_layer)
    free = max(0.0, 100.0 - used)
    names = ", ".join(f"{n.key!r} ({n.traffic_percent:g}%)" for n in in_layer)
    details = {
        "experiments": [n.id or n.key for n in in_layer],
        "used_percent": used,
        "free_percent": free,
        "requested_percent": design.traffic_percent,
    }
    if design.traffic_percent > free + 1e-9:
        return Finding(
            "layer_full",
            "error",
            f"The exclusion group is shared with running {names}: only {free:g}% of its "
            f"traffic is free and this experiment asks for {design.traffic_percent:g}%. "
            "Lower traffic_percent, or wait for one of them to stop.",
            "traffic_percent",
            details,
        )
    return Finding(
        "layer_shared",
        "info",
        f"The exclusion group is shared with running {names}: they take different units, so "
        f"no unit sees both; {free:g}% of the group's traffic is free, this asks for "
        f"{design.traffic_percent:g}%.",
        "exclusion_group_id",
        details,
    )


def _overlap(design: Design, n: Neighbour) -> Finding:
    shared = sorted(design.param_keys & n.param_keys)
    reach = "the same audience" if n.audience_id else "all units"
    details = {"experiment": n.id or n.key, "shared_params": shared}
    if shared:
        return Finding(
            "audience_collision",
            "warning",
            f"Running experiment {n.key!r} reaches {reach} outside this experiment's exclusion "
            f"group and changes the same parameters ({', '.join(shared)}): one unit can get "
            "both changes and each result mixes in the other. Put both in one exclusion group "
            "or run them one after the other.",
            "exclusion_group_id",
            details,
        )
    return Finding(
        "audience_overlap",
        "info",
        f"Running experiment {n.key!r} reaches {reach} too, outside this experiment's exclusion "
        "group; they change different parameters, so interactions are unlikely, but units see "
        "both.",
        "audience_id",
        details,
    )


RULES: tuple[Rule, ...] = (
    check_power,
    check_metrics,
    check_direction,
    check_hypothesis,
    check_variants,
    check_peeking,
    check_collisions,
)
