"""Power so far: how likely each running comparison is to detect the plan's effect at the
units it has, and how many more days it needs at the traffic it gets.

The effect is the plan's ``mde_pct`` (relative to the control), or else the effect the
plan's ``planned_sample_size`` detects with the plan's power. The test is the fixed-horizon
z-test the planner sizes for (``avsb.stats.power``): per-comparison alpha Bonferroni-split
over the variants, the standard error the analysis has now (CUPED-adjusted and
post-stratified when the result is). The standard error shrinks as 1 / sqrt(units), so the
units needed for the target power are the units so far times (lambda_target / lambda_now)^2,
and the days are those still missing over the analysed units per day of exposures so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from avsb.server.results import schemas
from avsb.server.results.readout import Readout
from avsb.stats import power as planner
from avsb.stats.errors import StatsInputError


@dataclass(frozen=True, slots=True)
class Target:
    """What the plan powers for: alpha, power, sidedness, the effect or the planned units."""

    alpha: float
    power: float
    two_sided: bool
    mde_pct: float | None
    planned_per_variant: int | None


def daily_units(total_units: int, days: Sequence[int]) -> float | None:
    """Analysed units per day over the span of first-exposure days so far."""
    if not days or total_units <= 0:
        return None
    return total_units / (max(days) - min(days) + 1)


def power_so_far(
    readout: Readout, keys: Sequence[str], target: Target, per_day: float | None
) -> list[schemas.PowerOut]:
    """One answer per variant of a primary metric (empty when it has no analysis)."""
    analysis = readout.analysis
    if analysis is None:
        return []
    try:
        config = planner.PowerConfig(target.alpha, target.power, target.two_sided)
    except StatsInputError:  # a plan whose power is not above its alpha: nothing to plan for
        return []
    alpha = planner.comparison_alpha(config, len(keys))
    lam_target = planner.noncentrality(alpha, target.power, target.two_sided)
    total_units = sum(arm.n for arm in analysis.arms)
    control = analysis.arms[0]
    out = []
    for index in range(1, len(keys)):
        arm = analysis.arms[index]
        se = math.sqrt(control.variance + arm.variance)
        found = _comparison(target, control.mean, se, control.n, arm.n, lam_target)
        if found is None:
            out.append(_unknown(keys[index], target, _why_unknown(target)))
            continue
        mde_pct, source, lam_now = found
        now = planner.z_test_power(lam_now, alpha, target.two_sided)
        if source == "plan":
            # Units in the comparison scale with the experiment's: keep the split as it is.
            needed = total_units * (lam_target / lam_now) ** 2
        else:
            assert target.planned_per_variant is not None
            needed = float(target.planned_per_variant * len(keys))
        head = _head(keys[index], mde_pct, now, target.power)
        if not needed <= planner.MAX_UNITS:  # also catches inf and nan
            message = f"{head}; it would need more than {planner.MAX_UNITS:.0e} units."
            required = remaining = days = None
        else:
            required = math.ceil(needed - 1e-9)
            remaining = max(required - total_units, 0)
            days = None if per_day is None else remaining / per_day
            message = _message(head, remaining, per_day)
        out.append(
            schemas.PowerOut(
                variant=keys[index],
                mde_pct=mde_pct,
                mde_source=source,
                target_power=target.power,
                power=now,
                required_units=required,
                remaining_units=remaining,
                daily_units=per_day,
                remaining_days=days,
                message=message,
            )
        )
    return out


def _comparison(
    target: Target, control_mean: float, se: float, n_control: int, n_arm: int, lam_target: float
) -> tuple[float, str, float] | None:
    """(relative effect in percent, its source, lambda now) or None when undefined."""
    if not se > 0 or control_mean == 0:
        return None
    if target.mde_pct is not None:
        return target.mde_pct, "plan", target.mde_pct / 100 * abs(control_mean) / se
    planned = target.planned_per_variant
    if planned is None:
        return None
    # The standard error at the planned units: se scaled from 1/n_c + 1/n_t to 2/planned.
    se_planned = se * math.sqrt((2 / planned) / (1 / n_control + 1 / n_arm))
    mde_abs = lam_target * se_planned
    return 100 * mde_abs / abs(control_mean), "planned_sample_size", mde_abs / se


def _why_unknown(target: Target) -> str:
    if target.mde_pct is not None or target.planned_per_variant is not None:
        return "the control mean is 0 (or the standard error is), so the effect has no size"
    return "the analysis plan has neither mde_pct nor planned_sample_size"


def _unknown(variant: str, target: Target, why: str) -> schemas.PowerOut:
    return schemas.PowerOut(
        variant=variant,
        mde_pct=target.mde_pct,
        mde_source=None,
        target_power=target.power,
        power=None,
        required_units=None,
        remaining_units=None,
        daily_units=None,
        remaining_days=None,
        message=f"No power so far for {variant!r}: {why}.",
    )


def _head(variant: str, mde_pct: float, now: float, target: float) -> str:
    return f"{variant!r}: power so far {now:.0%} for a {mde_pct:.3g}% effect (target {target:.0%})"


def _message(head: str, remaining: int, per_day: float | None) -> str:
    if remaining == 0:
        return f"{head}; the units needed are reached."
    if per_day is None:
        return f"{head}; {remaining:,} more units needed."
    days = remaining / per_day
    return f"{head}; {remaining:,} more units, about {days:.1f} days at {per_day:,.0f} a day."
