"""The decision readout: ship, no_ship or keep_running, each reason spelled out.

Rules, in the order they are applied:
1. SRM blocks everything: the split is broken, so no effect can be trusted (no_ship).
2. A guardrail significantly harmed for a variant blocks shipping that variant.
3. The method's stopping rule: fixed-horizon tests may only conclude once the planned sample
   size is reached; sequential tests may conclude as soon as the primary interval excludes 0
   (and stop without a winner when the planned size is reached).
4. Ship the variant with the largest significant improvement on the primary metric that no
   guardrail blocks; otherwise no_ship.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from avsb.stats.analysis import Comparison
from avsb.stats.errors import require
from avsb.stats.frequentist import directional
from avsb.stats.srm import SrmResult

DecisionKind = Literal["ship", "no_ship", "keep_running"]
StoppingKind = Literal["fixed_horizon", "sequential"]
Verdict = Literal["better", "worse", "flat"]


@dataclass(frozen=True, slots=True)
class Reason:
    """A machine-readable code with a sentence for people, and what it is about."""

    code: str
    message: str
    metric: str | None = None
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric's comparisons (variant i vs control, in arm order) and its direction."""

    key: str
    comparisons: tuple[Comparison, ...]
    lower_is_better: bool = False


@dataclass(frozen=True, slots=True)
class StoppingRule:
    """How the test may stop: fixed horizon or sequential, with planned and current units."""

    kind: StoppingKind = "fixed_horizon"
    planned_sample_size: int | None = None
    current_sample_size: int = 0


@dataclass(frozen=True, slots=True)
class DecisionInput:
    """Variant keys (control first), the primary metric, guardrails, SRM and the stopping rule."""

    variant_keys: tuple[str, ...]
    primary: MetricResult
    srm: SrmResult
    stopping: StoppingRule
    guardrails: tuple[MetricResult, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict, the variant to ship (None unless shipping) and every reason behind it."""

    decision: DecisionKind
    variant: str | None
    reasons: tuple[Reason, ...]


def direction(comparison: Comparison) -> float:
    """The effect as treatment - control on the metric's own scale when known.

    Its sign is the direction of the change whatever scale the estimate is shown on, so a
    relative lift against a negative control mean can never flip better into worse.
    """
    if comparison.absolute_estimate is not None:
        return comparison.absolute_estimate
    return comparison.estimate


def verdict(comparison: Comparison, lower_is_better: bool) -> Verdict:
    """better / worse when significant in that direction (metric direction applied), else flat."""
    if not comparison.significant:
        return "flat"
    if comparison.chance_to_win is not None:  # Bayesian: the posterior says which way
        return "better" if comparison.chance_to_win > 0.5 else "worse"
    return "better" if directional(direction(comparison), lower_is_better) > 0 else "worse"


def decide(inputs: DecisionInput) -> Decision:
    """The ship / no_ship / keep_running readout with structured reasons."""
    keys = inputs.variant_keys
    require(len(keys) >= 2, "variant_keys", "need the control and at least one variant")
    if inputs.srm.srm_detected:
        message = (
            f"Sample ratio mismatch (p = {inputs.srm.p_value:.3g}): the observed split differs "
            "from the configured one, so no result can be trusted. Fix assignment first."
        )
        return Decision("no_ship", None, (Reason("srm_detected", message),))
    blocked, reasons = _guardrail_blocks(inputs)
    primary = inputs.primary
    verdicts = {
        keys[c.variant_index]: verdict(c, primary.lower_is_better) for c in primary.comparisons
    }
    winners = [
        c
        for c in primary.comparisons
        if verdicts[keys[c.variant_index]] == "better" and keys[c.variant_index] not in blocked
    ]
    reasons.extend(_primary_reasons(primary, keys, verdicts))
    settled = all(verdicts[key] == "worse" or key in blocked for key in keys[1:])
    stop, stop_reason = _may_stop(inputs.stopping, bool(winners) or settled)
    reasons.append(stop_reason)
    if not stop:
        if blocked == set(keys[1:]):
            return Decision("no_ship", None, tuple(reasons))
        return Decision("keep_running", None, tuple(reasons))
    if not winners:
        return Decision("no_ship", None, tuple(reasons))
    best = max(winners, key=lambda c: directional(direction(c), primary.lower_is_better))
    return Decision("ship", keys[best.variant_index], tuple(reasons))


def _guardrail_blocks(inputs: DecisionInput) -> tuple[set[str], list[Reason]]:
    blocked: set[str] = set()
    reasons: list[Reason] = []
    for metric in inputs.guardrails:
        for comparison in metric.comparisons:
            if verdict(comparison, metric.lower_is_better) != "worse":
                continue
            variant = inputs.variant_keys[comparison.variant_index]
            blocked.add(variant)
            message = (
                f"Guardrail '{metric.key}' is significantly worse for '{variant}' "
                f"(estimate {comparison.estimate:+.4g}); this variant cannot ship."
            )
            reasons.append(Reason("guardrail_harmed", message, metric.key, variant))
    return blocked, reasons


def _primary_reasons(
    primary: MetricResult, keys: Sequence[str], verdicts: dict[str, Verdict]
) -> list[Reason]:
    reasons = []
    for comparison in primary.comparisons:
        variant = keys[comparison.variant_index]
        estimate = f"estimate {comparison.estimate:+.4g} ({comparison.difference_type})"
        code, text = {
            "better": ("primary_improved", "is significantly better"),
            "worse": ("primary_worse", "is significantly worse"),
            "flat": ("primary_not_significant", "shows no significant difference"),
        }[verdicts[variant]]
        message = f"On '{primary.key}', '{variant}' {text} than control: {estimate}."
        reasons.append(Reason(code, message, primary.key, variant))
    return reasons


def _may_stop(rule: StoppingRule, concluded: bool) -> tuple[bool, Reason]:
    """Whether the method's stopping rule lets the test conclude now, and why.

    `concluded`: some variant wins, or every variant is significantly worse or blocked.
    """
    planned, current = rule.planned_sample_size, rule.current_sample_size
    reached = planned is not None and current >= planned
    if rule.kind == "sequential":
        if concluded:
            message = "The always-valid intervals exclude 0: a sequential test may stop now."
            return True, Reason("sequential_boundary_crossed", message)
        if reached:
            message = f"Planned sample size {planned} reached without crossing the boundary."
            return True, Reason("planned_sample_size_reached", message)
        message = "The always-valid interval still includes 0: keep collecting data."
        return False, Reason("sequential_boundary_not_crossed", message)
    if planned is None:
        message = "No planned sample size given: the fixed-horizon readout uses the data as is."
        return True, Reason("no_planned_sample_size", message)
    if reached:
        message = f"Planned sample size reached ({current} of {planned} units)."
        return True, Reason("planned_sample_size_reached", message)
    message = (
        f"Fixed-horizon test at {current} of {planned} planned units: concluding early would "
        "inflate the false-positive rate."
    )
    return False, Reason("sample_size_not_reached", message)


__all__ = [
    "Decision",
    "DecisionInput",
    "DecisionKind",
    "MetricResult",
    "Reason",
    "StoppingKind",
    "StoppingRule",
    "decide",
    "direction",
    "verdict",
]
