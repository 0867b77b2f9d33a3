"""Quantile metrics: a percentile of per-unit values, its interval, and arms compared.

For one arm of n units and a probability p, the sample quantile is numpy's default (linear
interpolation between order statistics). Its distribution-free interval is the pair of
order statistics [X_(L), X_(U)] at ranks (1-based, clipped to [1, n])

    L = floor(n p - z sqrt(n p (1 - p))),   U = ceil(n p + z sqrt(n p (1 - p)) + 1),

the normal approximation to the Binomial(n, p) count of units below the true quantile
(Conover 1999, Practical Nonparametric Statistics, section 3.2); the extra rank on the upper
side makes the interval cover the discrete order statistic the binomial bound points at.
Deng, Knoblich & Lu (2018, "Applying the Delta Method in Metric Analytics", KDD, section on
percentile metrics) turn that interval into a standard error without estimating the density
f(Q) in sqrt(p (1 - p) / n) / f(Q):  se = (X_(U) - X_(L)) / (2 z).  Arms are independent, so
their quantiles compare by a normal test on the difference (variance se_t^2 + se_c^2) or on
the relative lift (delta method, as for means). The SQL of the results computes the same
three order statistics per arm, so the server never reads per-unit values into Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from avsb.stats import _dist
from avsb.stats.errors import StatsInputError, require
from avsb.stats.frequentist import EffectEstimate, TestConfig, difference, welch_test
from avsb.stats.statistics import ArmEstimate

RANK_Z = 1.959963984540054  # z_(0.975): the bandwidth of the order-statistic SE estimate


@dataclass(frozen=True, slots=True)
class QuantileArm:
    """One arm: units n, sample p-quantile, and the order statistics X_(L) <= X_(U) around it.

    ``z`` is the normal quantile the ranks were taken at; [lower, upper] is then a confidence
    interval for the arm's quantile at level 2 Phi(z) - 1.
    """

    n: int
    estimate: float
    lower: float
    upper: float
    z: float = RANK_Z

    def __post_init__(self) -> None:
        require(self.n >= 2, "n", f"need at least 2 units per arm, got {self.n}")
        finite = all(math.isfinite(v) for v in (self.estimate, self.lower, self.upper))
        require(finite, "estimate", "the quantile and its order statistics must be finite")
        require(self.lower <= self.upper, "lower", "X_(L) must not exceed X_(U)")
        require(self.z > 0, "z", "must be > 0")

    @property
    def standard_error(self) -> float:
        """(X_(U) - X_(L)) / (2 z) >= 0: Deng, Knoblich & Lu's estimate of the quantile's SE."""
        return (self.upper - self.lower) / (2.0 * self.z)


def rank_bounds(n: int, p: float, z: float = RANK_Z) -> tuple[int, int]:
    """The 1-based ranks (L, U), 1 <= L <= U <= n, of the order statistics around n p."""
    require(n >= 1, "n", "need at least 1 unit")
    require(0.0 < p < 1.0, "quantile", f"must be in (0, 1), got {p}")
    require(math.isfinite(z) and z > 0, "z", "must be finite and > 0")
    half = z * math.sqrt(n * p * (1.0 - p))
    lower = max(1, math.floor(n * p - half))
    upper = min(n, math.ceil(n * p + half + 1.0))
    return lower, upper


def quantile_arm(
    values: Sequence[float] | npt.NDArray[np.float64], p: float, z: float = RANK_Z
) -> QuantileArm:
    """The QuantileArm of per-unit values (at least 2, finite) at probability p in (0, 1)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    require(x.ndim == 1 and x.size >= 2, "values", "need at least 2 per-unit values")
    require(bool(np.all(np.isfinite(x))), "values", "values must be finite")
    lower, upper = rank_bounds(int(x.size), p, z)
    estimate = float(np.quantile(x, p))
    return QuantileArm(int(x.size), estimate, float(x[lower - 1]), float(x[upper - 1]), z)


def arm_interval(arm: QuantileArm) -> tuple[float, float]:
    """The arm's distribution-free interval [X_(L), X_(U)] for its quantile."""
    return arm.lower, arm.upper


def compare_quantiles(
    control: QuantileArm, treatment: QuantileArm, config: TestConfig
) -> EffectEstimate:
    """Normal test and interval of the difference (or relative lift) of two arms' quantiles.

    Raises StatsInputError when neither arm has spread at its quantile (both SEs 0), and for
    a relative lift when the control's quantile is 0.
    """
    arms = [
        ArmEstimate(a.estimate, a.standard_error**2, math.inf, a.n) for a in (control, treatment)
    ]
    if arms[0].variance <= 0.0 and arms[1].variance <= 0.0:
        raise StatsInputError(
            "values", "both arms' order statistics around the quantile are equal: no test"
        )
    try:
        found = welch_test(difference(arms[0], arms[1], config.difference_type), config)
    except (ZeroDivisionError, OverflowError):  # a control quantile within ~1e-154 of 0
        raise StatsInputError("values", "the effect overflows: values too large") from None
    numbers = (found.estimate, found.standard_error, *(v for v in found.ci if v is not None))
    require(all(map(math.isfinite, numbers)), "values", "the effect overflows: values too large")
    return replace(found, test="quantile_normal", df=None)


def coverage_level(z: float) -> float:
    """The nominal two-sided level 2 Phi(z) - 1 in (0, 1) of ranks taken at z."""
    return 2.0 * _dist.normal_cdf(z) - 1.0


__all__ = [
    "RANK_Z",
    "QuantileArm",
    "arm_interval",
    "compare_quantiles",
    "coverage_level",
    "quantile_arm",
    "rank_bounds",
]
