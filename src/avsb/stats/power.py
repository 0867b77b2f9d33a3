"""Planning: sample size, duration and sensitivity for the test the analysis will run.

The analysis tests every comparison once, by Welch's unpooled test of the absolute difference
(whatever scale the lift is shown on), so planning sizes that same test: for arms with
traffic shares f_c, f_t and N units in all, var(effect) = K / N with
K = var_c / f_c + var_t / f_t (var = p(1 - p) for a 0/1 metric, sd^2 otherwise). With
lambda = |delta| sqrt(N / K) the power of a two-sided test is
Phi(lambda - z_{1-a/2}) + Phi(-lambda - z_{1-a/2}), both tails counted as statsmodels does.
With k variants there are k - 1 comparisons with the control: alpha is Bonferroni-split over
them and N is sized for the control against the smallest treatment arm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import optimize

from avsb.stats import _dist
from avsb.stats.errors import require

PlanMetric = Literal["binary", "continuous"]


MIN_LEVEL = 1e-12
MIN_SCALE = 1e-100
MAX_SCALE = 1e100


@dataclass(frozen=True, slots=True)
class Baseline:
    """The control's expected value: a rate in (0, 1) for binary, a mean > 0 with sd > 0 else."""

    metric_type: PlanMetric
    baseline_value: float
    std_dev: float | None = None

    def __post_init__(self) -> None:
        value = self.baseline_value
        require(math.isfinite(value), "baseline_value", "must be finite")
        # Planning squares these numbers: keep them where doubles stay exact enough.
        if self.metric_type == "binary":
            require(
                MIN_LEVEL <= value <= 1 - MIN_LEVEL,
                "baseline_value",
                f"a rate must be in [{MIN_LEVEL}, 1 - {MIN_LEVEL}], got {value}",
            )
            return
        require(
            MIN_SCALE <= value <= MAX_SCALE,
            "baseline_value",
            f"must be in [{MIN_SCALE}, {MAX_SCALE}]",
        )
        sd = self.std_dev
        require(
            sd is not None and MIN_SCALE <= sd <= MAX_SCALE,
            "std_dev",
            f"must be in [{MIN_SCALE}, {MAX_SCALE}] (continuous)",
        )

    def variance(self, relative_lift: float = 0.0) -> float:
        """Unit variance at value * (1 + relative_lift): p(1 - p) for binary, sd^2 else."""
        if self.metric_type == "binary":
            p = self.baseline_value * (1 + relative_lift)
            return p * (1 - p)
        assert self.std_dev is not None  # checked in __post_init__
        return self.std_dev**2


MAX_UNITS = 1e15
MAX_DAYS = 1e7


@dataclass(frozen=True, slots=True)
class PowerConfig:
    """Level alpha in (0, 1), power in (alpha, 1), sidedness, and the multi-variant correction."""

    alpha: float = 0.05
    power: float = 0.8
    two_sided: bool = True
    correct_for_variants: bool = True

    def __post_init__(self) -> None:
        # Beyond these bounds the normal quantiles are infinite in double precision.
        require(MIN_LEVEL <= self.alpha < 1, "alpha", f"must be in [{MIN_LEVEL}, 1)")
        require(self.alpha < self.power <= 1 - MIN_LEVEL, "power", "must be in (alpha, 1)")


@dataclass(frozen=True, slots=True)
class Traffic:
    """Variants (2..10), split (weights, control first; None = equal) and daily eligible units."""

    variants_count: int = 2
    traffic_split: tuple[float, ...] | None = None
    expected_daily_traffic: float | None = None
    audience_share_in_test: float = 1.0

    def __post_init__(self) -> None:
        k = self.variants_count
        require(2 <= k <= 10, "variants_count", f"must be in 2..10, got {k}")
        split = self.traffic_split
        if split is not None:
            require(len(split) == k, "traffic_split", f"has {len(split)} shares for {k} variants")
            require(all(math.isfinite(s) and s > 0 for s in split), "traffic_split", "must be > 0")
        daily = self.expected_daily_traffic
        if daily is not None:
            require(math.isfinite(daily) and daily > 0, "expected_daily_traffic", "must be > 0")
        share = self.audience_share_in_test
        require(0 < share <= 1, "audience_share_in_test", "must be in (0, 1]")

    @property
    def fractions(self) -> tuple[float, ...]:
        """Each variant's share of the test's units, summing to 1."""
        if self.traffic_split is None:
            return (1.0 / self.variants_count,) * self.variants_count
        total = sum(self.traffic_split)
        return tuple(s / total for s in self.traffic_split)

    @property
    def daily_units(self) -> float | None:
        """Units entering the test per day (traffic x audience share), or None if unknown."""
        if self.expected_daily_traffic is None:
            return None
        return self.expected_daily_traffic * self.audience_share_in_test


@dataclass(frozen=True, slots=True)
class SampleSizePlan:
    """Units per variant (control first), their total, days to collect them, and the test used."""

    sample_size_per_variant: tuple[int, ...]
    total_sample_size: int
    estimated_duration_days: int | None
    alpha_per_comparison: float
    comparisons: int
    method: str


@dataclass(frozen=True, slots=True)
class SensitivityResult:
    """Smallest detectable lift (relative and absolute; None if none is detectable) for N units."""

    mde_relative: float | None
    mde_absolute: float | None
    sample_size_per_variant: tuple[int, ...]
    total_sample_size: int
    days: float


def comparison_alpha(config: PowerConfig, variants_count: int) -> float:
    """The per-comparison alpha: Bonferroni over the k - 1 comparisons with the control."""
    comparisons = variants_count - 1
    return config.alpha / comparisons if config.correct_for_variants else config.alpha


def noncentrality(alpha: float, power: float, two_sided: bool) -> float:
    """lambda = |delta| / SE at which a z-test at level alpha has the given power (both tails)."""
    z = _dist.normal_ppf(1 - alpha / 2) if two_sided else _dist.normal_ppf(1 - alpha)
    one_tail = z + _dist.normal_ppf(power)
    if not two_sided:
        return one_tail
    return float(
        optimize.brentq(
            lambda lam: z_test_power(lam, alpha, two_sided=True) - power, 0.0, one_tail, xtol=1e-14
        )
    )


def z_test_power(noncentrality_value: float, alpha: float, two_sided: bool) -> float:
    """Power in (0, 1) of a z-test at level alpha when |effect| / SE = noncentrality_value."""
    lam = abs(noncentrality_value)
    if not two_sided:
        return _dist.normal_cdf(lam - _dist.normal_ppf(1 - alpha))
    z = _dist.normal_ppf(1 - alpha / 2)
    return _dist.normal_cdf(lam - z) + _dist.normal_cdf(-lam - z)


def _sizing_shares(traffic: Traffic) -> tuple[float, float]:
    """(control share, smallest treatment share): the comparison that needs the most units."""
    fractions = traffic.fractions
    return fractions[0], min(fractions[1:])


def _variance_factor(baseline: Baseline, relative_lift: float, traffic: Traffic) -> float:
    """K in var(effect) = K / N for control vs the smallest treatment arm."""
    f_c, f_t = _sizing_shares(traffic)
    return baseline.variance() / f_c + baseline.variance(relative_lift) / f_t


def required_total_sample_size(
    baseline: Baseline, mde_relative: float, traffic: Traffic, config: PowerConfig
) -> float:
    """Units N (all arms, unrounded) to detect a relative lift mde_relative > 0 with the power."""
    require(math.isfinite(mde_relative) and mde_relative > 0, "mde_relative", "must be > 0")
    if baseline.metric_type == "binary":
        treated = baseline.baseline_value * (1 + mde_relative)
        require(treated < 1, "mde_relative", f"the treated rate {treated:.4g} must stay below 1")
    lam = noncentrality(
        comparison_alpha(config, traffic.variants_count), config.power, config.two_sided
    )
    delta = baseline.baseline_value * mde_relative
    require(
        delta * delta > 0, "mde_relative", "the effect is too small to measure in double precision"
    )
    total = _variance_factor(baseline, mde_relative, traffic) * lam**2 / delta**2
    require(
        math.isfinite(total) and total <= MAX_UNITS,
        "mde_relative",
        f"detecting this effect would need more than {MAX_UNITS:.0e} units",
    )
    return total


def sample_size(
    baseline: Baseline, mde_relative: float, traffic: Traffic, config: PowerConfig
) -> SampleSizePlan:
    """Units per variant (each rounded up) and days to detect a relative lift of mde_relative."""
    total = required_total_sample_size(baseline, mde_relative, traffic, config)
    per_variant = tuple(math.ceil(total * f - 1e-9) for f in traffic.fractions)
    return _plan(per_variant, traffic, config, baseline.metric_type)


def _days(total: int, daily: float) -> int:
    days = total / daily
    require(
        days <= MAX_DAYS,
        "expected_daily_traffic",
        f"the test would run more than {MAX_DAYS:.0e} days",
    )
    return math.ceil(days)


def _plan(
    per_variant: tuple[int, ...], traffic: Traffic, config: PowerConfig, metric: PlanMetric
) -> SampleSizePlan:
    total = sum(per_variant)
    daily = traffic.daily_units
    comparisons = traffic.variants_count - 1
    alpha = comparison_alpha(config, traffic.variants_count)
    sides = "two-sided" if config.two_sided else "one-sided"
    test = (
        "unpooled two-proportion z-test of the absolute difference"
        if metric == "binary"
        else "Welch z-test of the absolute difference"
    )
    correction = f", Bonferroni over {comparisons} comparisons" if alpha < config.alpha else ""
    return SampleSizePlan(
        sample_size_per_variant=per_variant,
        total_sample_size=total,
        estimated_duration_days=_days(total, daily) if daily else None,
        alpha_per_comparison=alpha,
        comparisons=comparisons,
        method=f"{sides} {test}{correction}",
    )


def sensitivity(
    baseline: Baseline, traffic: Traffic, days: float, config: PowerConfig
) -> SensitivityResult:
    """Smallest relative lift detectable with the power after `days` of traffic (days > 0)."""
    require(math.isfinite(days) and days > 0, "days", "must be > 0")
    daily = traffic.daily_units
    require(daily is not None, "expected_daily_traffic", "is needed to compute sensitivity")
    assert daily is not None
    total = daily * days
    require(total <= MAX_UNITS, "expected_daily_traffic", f"more than {MAX_UNITS:.0e} units in all")
    per_variant = tuple(math.floor(total * f + 1e-9) for f in traffic.fractions)
    require(min(per_variant) >= 2, "expected_daily_traffic", "too little traffic: < 2 per arm")
    lam = noncentrality(
        comparison_alpha(config, traffic.variants_count), config.power, config.two_sided
    )
    mde = _smallest_lift(baseline, traffic, lam, total)
    return SensitivityResult(
        mde_relative=mde,
        mde_absolute=None if mde is None else mde * baseline.baseline_value,
        sample_size_per_variant=per_variant,
        total_sample_size=sum(per_variant),
        days=days,
    )


def _smallest_lift(baseline: Baseline, traffic: Traffic, lam: float, total: float) -> float | None:
    """The relative lift r > 0 with |delta| sqrt(N / K(r)) = lambda; None if beyond a rate of 1."""
    value = baseline.baseline_value

    def gap(r: float) -> float:
        return value * r * math.sqrt(total) - lam * math.sqrt(
            _variance_factor(baseline, r, traffic)
        )

    if baseline.metric_type == "continuous":
        return lam * math.sqrt(_variance_factor(baseline, 0.0, traffic) / total) / value
    ceiling = (1 - value) / value  # a lift that takes the rate to 1
    if gap(ceiling) <= 0:
        return None
    return float(optimize.brentq(gap, 0.0, ceiling, xtol=1e-14, rtol=1e-12))


__all__ = [
    "Baseline",
    "PlanMetric",
    "PowerConfig",
    "SampleSizePlan",
    "SensitivityResult",
    "Traffic",
    "comparison_alpha",
    "noncentrality",
    "required_total_sample_size",
    "sample_size",
    "sensitivity",
    "z_test_power",
]
