"""CUPED: regression adjustment on a pre-period covariate (Deng, Xu, Kohavi & Walker, 2013).

Each unit's outcome y is replaced by y - theta (x - mean_x), with x its pre-period value and one
theta pooled across all arms: theta = sum over arms of within-arm cov(x, y) / sum over arms of
within-arm var(x). Pooling within arms keeps the treatment effect (which moves y, not x) out of
theta. The adjusted mean is unbiased for the arm mean because x is fixed before assignment; its
unit variance is var(y) + theta^2 var(x) - 2 theta cov(x, y), about (1 - rho^2) var(y).
"""

from __future__ import annotations

from collections.abc import Sequence

from avsb.stats.errors import require
from avsb.stats.statistics import ArmEstimate, RegressionAdjustedStatistic, checked_arm


def cuped_theta(arms: Sequence[RegressionAdjustedStatistic]) -> float:
    """The pooled regression slope of outcome on covariate; 0 when the covariate never varies."""
    require(len(arms) >= 1, "arms", "need at least one arm")
    cross = sum(arm.centred_cross for arm in arms if arm.n)
    spread = sum(
        arm.covariate_sum_squares - arm.covariate_sum * (arm.covariate_sum / arm.n)
        for arm in arms
        if arm.n
    )
    # Relative to the raw sum of squares, a spread this small is rounding noise, not variance.
    scale = sum(arm.covariate_sum_squares for arm in arms)
    if spread <= 1e-12 * max(scale, 1.0):
        return 0.0
    return cross / spread


def covariate_mean(arms: Sequence[RegressionAdjustedStatistic]) -> float:
    """The covariate mean pooled over all arms' units."""
    total = sum(arm.n for arm in arms)
    require(total > 0, "n", "no units")
    return sum(arm.covariate_sum for arm in arms) / total


def cuped_adjust(stat: RegressionAdjustedStatistic, theta: float, centre: float) -> ArmEstimate:
    """The arm's CUPED-adjusted mean y - theta (x - centre) with var(mean); needs n >= 2."""
    require(stat.n >= 2, "n", f"need at least 2 units per arm, got {stat.n}")
    n = stat.n
    var_y = stat.post.variance
    var_x = stat.pre.variance
    cov_xy = stat.centred_cross / (n - 1)
    unit_variance = max(var_y + theta * theta * var_x - 2 * theta * cov_xy, 0.0)
    mean = stat.mean - theta * (stat.covariate_sum / n - centre)
    return checked_arm(ArmEstimate(mean, unit_variance / n, float(n - 1), n))


def cuped_estimates(arms: Sequence[RegressionAdjustedStatistic]) -> tuple[ArmEstimate, ...]:
    """CUPED-adjusted estimates for every arm with one theta pooled across them."""
    theta = cuped_theta(arms)
    centre = covariate_mean(arms)
    return tuple(cuped_adjust(arm, theta, centre) for arm in arms)


__all__ = ["covariate_mean", "cuped_adjust", "cuped_estimates", "cuped_theta"]
