"""CUPED: regression adjustment on a pre-period covariate (Deng, Xu, Kohavi & Walker, 2013).

Each unit's outcome y is replaced by y - theta (x - mean_x), with x its pre-period value and one
theta pooled across all arms: theta = sum over arms of within-arm cov(x, y) / sum over arms of
within-arm var(x). Pooling within arms keeps the treatment effect (which moves y, not x) out of
theta. The adjusted mean is unbiased for the arm mean because x is fixed before assignment; its
unit variance is var(y) + theta^2 var(x) - 2 theta cov(x, y), about (1 - rho^2) var(y).

A ratio metric R = sum(num) / sum(den) is adjusted the same way by its pre-period ratio
R0 = sum(num0) / sum(den0) (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric
Analytics", section on CUPED for ratio metrics): by the delta method each is a linear function
of the arm means of (num, den, num0, den0), with gradients g = (1/den, -R/den, 0, 0) and
h = (0, 0, 1/den0, -R0/den0) at those means, so with S the unit covariance of the four,
var(R) = g'Sg / n, var(R0) = h'Sh / n and cov(R, R0) = g'Sh / n. The adjusted ratio is
R - theta (R0 - centre) with theta = sum over arms of (n - 1) g'Sh / sum of (n - 1) h'Sh and
the centre the pooled pre-period ratio; its variance is (g'Sg + theta^2 h'Sh - 2 theta g'Sh)/n.
When an arm has no pre-period denominator R0 is undefined and theta is 0 (no adjustment).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from avsb.stats.errors import StatsInputError, require
from avsb.stats.statistics import (
    ArmEstimate,
    RatioAdjustedStatistic,
    RegressionAdjustedStatistic,
    checked_arm,
    estimate_arm,
)


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


Vector4 = tuple[float, float, float, float]


def _quadratic(a: Vector4, s: tuple[tuple[float, ...], ...], b: Vector4) -> float:
    return math.fsum(a[i] * s[i][j] * b[j] for i in range(4) for j in range(4))


def _gradients(stat: RatioAdjustedStatistic) -> tuple[Vector4, Vector4]:
    """The delta-method gradients g (outcome ratio) and h (pre-period ratio) at the means."""
    n = stat.n
    den, den0 = stat.denominator_sum / n, stat.pre_denominator_sum / n
    ratio, ratio0 = stat.ratio.mean, stat.pre_numerator_sum / stat.pre_denominator_sum
    return (1 / den, -ratio / den, 0.0, 0.0), (0.0, 0.0, 1 / den0, -ratio0 / den0)


def _moments(stat: RatioAdjustedStatistic) -> tuple[float, float, float]:
    """Unit-level (var R, var R0, cov(R, R0)) by the delta method."""
    s = stat.covariance()
    g, h = _gradients(stat)
    return _quadratic(g, s, g), _quadratic(h, s, h), _quadratic(g, s, h)


def ratio_cuped_theta(cells: Sequence[RatioAdjustedStatistic]) -> float:
    """The pooled slope of the ratio on its pre-period ratio; 0 when some cell has no
    pre-period denominator or the pre-period ratio never varies."""
    require(len(cells) >= 1, "arms", "need at least one arm")
    if any(cell.pre_denominator_sum == 0 for cell in cells):
        return 0.0
    cross, spread = 0.0, 0.0
    for cell in cells:
        _, var0, cov = _moments(cell)
        cross += (cell.n - 1) * cov
        spread += (cell.n - 1) * var0
    if not spread > 0 or not math.isfinite(cross / spread):
        return 0.0
    return cross / spread


def ratio_cuped_adjust(stat: RatioAdjustedStatistic, theta: float, centre: float) -> ArmEstimate:
    """The arm's adjusted ratio R - theta (R0 - centre) with var(estimate); needs n >= 2."""
    require(stat.n >= 2, "n", f"need at least 2 units per arm, got {stat.n}")
    require(stat.denominator_sum != 0, "denominator_sum", "must be nonzero for a ratio")
    if theta == 0.0:  # no adjustment: the plain delta-method ratio
        return estimate_arm(stat.ratio)
    var, var0, cov = _moments(stat)
    unit_variance = max(var + theta**2 * var0 - 2 * theta * cov, 0.0)
    ratio0 = stat.pre_numerator_sum / stat.pre_denominator_sum
    mean = stat.mean - theta * (ratio0 - centre)
    return ArmEstimate(mean, unit_variance / stat.n, float(stat.n - 1), stat.n)


def ratio_cuped_cells(
    cells: Sequence[Sequence[RatioAdjustedStatistic]],
) -> list[list[ArmEstimate]]:
    """Adjusted estimates per cells[stratum][arm]: one theta over every cell, the centre the
    pooled pre-period ratio of each stratum (post-stratify the result to combine strata)."""
    theta = ratio_cuped_theta([cell for stratum in cells for cell in stratum])
    out = []
    for s, stratum in enumerate(cells):
        den0 = sum(cell.pre_denominator_sum for cell in stratum)
        centre = sum(cell.pre_numerator_sum for cell in stratum) / den0 if theta else 0.0
        row = []
        for a, cell in enumerate(stratum):
            try:
                row.append(ratio_cuped_adjust(cell, theta, centre))
            except StatsInputError as error:
                raise error.within(f"strata.{s}.arms.{a}") from None
        out.append(row)
    return out


__all__ = [
    "covariate_mean",
    "cuped_adjust",
    "cuped_estimates",
    "cuped_theta",
    "ratio_cuped_adjust",
    "ratio_cuped_cells",
    "ratio_cuped_theta",
]
