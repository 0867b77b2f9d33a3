"""Sufficient statistics: frozen, mergeable value objects that add with `+`.

Analysis SQL aggregates events to these few numbers per arm (and stratum); every method in
`avsb.stats` works from them, never from rows. Adding two statistics pools their units (two
days, two shards, two strata), as GrowthBook's gbstats `SampleMeanStatistic` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from avsb.stats.errors import StatsInputError, require


def _check_count(n: int) -> None:
    require(n >= 0, "n", f"must be >= 0, got {n}")


def _check_finite(**values: float) -> None:
    for name, value in values.items():
        require(math.isfinite(value), name, f"must be finite, got {value}")


def _centred(sum_xy: float, sum_x: float, sum_y: float, n: int) -> float:
    """The centred cross product sum((x - mean x)(y - mean y)) from raw sums.

    sum_x * (sum_y / n), not sum_x * sum_y / n: the product of two sums overflows long before
    the centred value does (|sum_x * mean_y| <= sqrt(sum_x^2 sum_y^2) by Cauchy–Schwarz).
    """
    return sum_xy - sum_x * (sum_y / n)


@dataclass(frozen=True, slots=True)
class SampleMeanStatistic:
    """A metric's units: count n >= 0, sum of values and sum of squared values."""

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        _check_finite(sum=self.sum, sum_squares=self.sum_squares)
        require(self.sum_squares >= 0, "sum_squares", "must be >= 0")

    def __add__(self, other: SampleMeanStatistic) -> SampleMeanStatistic:
        return SampleMeanStatistic(
            self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
        )

    @property
    def mean(self) -> float:
        """The sample mean; 0 for an empty sample."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The unbiased sample variance (n - 1 denominator), >= 0; needs n >= 2."""
        require(self.n >= 2, "n", f"need at least 2 units to estimate a variance, got {self.n}")
        return max(_centred(self.sum_squares, self.sum, self.sum, self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True, slots=True)
class ProportionStatistic:
    """A 0/1 metric: n units of which `sum` converted; its sum of squares equals its sum."""

    n: int
    sum: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        _check_finite(sum=self.sum)
        require(0 <= self.sum <= self.n, "sum", f"conversions must be in [0, n={self.n}]")

    def __add__(self, other: ProportionStatistic) -> ProportionStatistic:
        return ProportionStatistic(self.n + other.n, self.sum + other.sum)

    @property
    def sum_squares(self) -> float:
        """For 0/1 data every square equals its value."""
        return self.sum

    @property
    def mean(self) -> float:
        """The conversion rate in [0, 1]; 0 for an empty sample."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The Bernoulli variance p(1 - p), in [0, 0.25]; needs n >= 2."""
        require(self.n >= 2, "n", f"need at least 2 units to estimate a variance, got {self.n}")
        p = self.mean
        return p * (1.0 - p)


@dataclass(frozen=True, slots=True)
class RegressionAdjustedStatistic:
    """A metric with a pre-period covariate for CUPED: sums of y, y^2, x, x^2 and x*y."""

    n: int
    sum: float
    sum_squares: float
    covariate_sum: float
    covariate_sum_squares: float
    cross_sum: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        _check_finite(
            sum=self.sum,
            sum_squares=self.sum_squares,
            covariate_sum=self.covariate_sum,
            covariate_sum_squares=self.covariate_sum_squares,
            cross_sum=self.cross_sum,
        )

    def __add__(self, other: RegressionAdjustedStatistic) -> RegressionAdjustedStatistic:
        return RegressionAdjustedStatistic(
            self.n + other.n,
            self.sum + other.sum,
            self.sum_squares + other.sum_squares,
            self.covariate_sum + other.covariate_sum,
            self.covariate_sum_squares + other.covariate_sum_squares,
            self.cross_sum + other.cross_sum,
        )

    @property
    def post(self) -> SampleMeanStatistic:
        """The outcome alone."""
        return SampleMeanStatistic(self.n, self.sum, self.sum_squares)

    @property
    def pre(self) -> SampleMeanStatistic:
        """The covariate alone."""
        return SampleMeanStatistic(self.n, self.covariate_sum, self.covariate_sum_squares)

    @property
    def mean(self) -> float:
        """The unadjusted outcome mean."""
        return self.post.mean

    @property
    def centred_cross(self) -> float:
        """Within-arm sum((x - mean x)(y - mean y))."""
        return _centred(self.cross_sum, self.covariate_sum, self.sum, self.n) if self.n else 0.0


@dataclass(frozen=True, slots=True)
class RatioStatistic:
    """A ratio metric per unit, e.g. revenue / orders: sums of num, num^2, den, den^2, num*den."""

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    cross_sum: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        _check_finite(
            numerator_sum=self.numerator_sum,
            numerator_sum_squares=self.numerator_sum_squares,
            denominator_sum=self.denominator_sum,
            denominator_sum_squares=self.denominator_sum_squares,
            cross_sum=self.cross_sum,
        )

    def __add__(self, other: RatioStatistic) -> RatioStatistic:
        return RatioStatistic(
            self.n + other.n,
            self.numerator_sum + other.numerator_sum,
            self.numerator_sum_squares + other.numerator_sum_squares,
            self.denominator_sum + other.denominator_sum,
            self.denominator_sum_squares + other.denominator_sum_squares,
            self.cross_sum + other.cross_sum,
        )

    @property
    def mean(self) -> float:
        """The ratio of sums sum(num) / sum(den); needs a nonzero denominator sum."""
        require(self.denominator_sum != 0, "denominator_sum", "must be nonzero for a ratio")
        return self.numerator_sum / self.denominator_sum

    @property
    def variance(self) -> float:
        """Unit-level variance of the ratio by the delta method (so var(mean) = this / n)."""
        require(self.n >= 2, "n", f"need at least 2 units to estimate a variance, got {self.n}")
        n, mean_den = self.n, self.denominator_sum / self.n
        require(mean_den != 0, "denominator_sum", "its mean per unit is too small for doubles")
        ratio = self.mean
        var_num = _centred(self.numerator_sum_squares, self.numerator_sum, self.numerator_sum, n)
        var_den = _centred(
            self.denominator_sum_squares, self.denominator_sum, self.denominator_sum, n
        )
        cov = _centred(self.cross_sum, self.numerator_sum, self.denominator_sum, n)
        linearised = (var_num - 2 * ratio * cov + ratio * ratio * var_den) / (n - 1)
        return max(linearised / mean_den / mean_den, 0.0)


@dataclass(frozen=True, slots=True)
class RatioAdjustedStatistic:
    """A ratio metric with its pre-period numerator and denominator for CUPED: the sums of
    num, den, pre_num, pre_den, of their squares and of every cross product of two of them
    (the second moments the delta method needs; Deng, Knoblich & Lu 2018)."""

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    cross_sum: float  # num * den
    pre_numerator_sum: float
    pre_numerator_sum_squares: float
    pre_denominator_sum: float
    pre_denominator_sum_squares: float
    pre_cross_sum: float  # pre_num * pre_den
    numerator_pre_numerator_cross_sum: float
    numerator_pre_denominator_cross_sum: float
    denominator_pre_numerator_cross_sum: float
    denominator_pre_denominator_cross_sum: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        sums = {name: float(getattr(self, name)) for name in self.__slots__ if name != "n"}
        _check_finite(**sums)

    def __add__(self, other: RatioAdjustedStatistic) -> RatioAdjustedStatistic:
        return RatioAdjustedStatistic(
            self.n + other.n,
            *(getattr(self, k) + getattr(other, k) for k in self.__slots__ if k != "n"),
        )

    @property
    def ratio(self) -> RatioStatistic:
        """The outcome ratio alone."""
        return RatioStatistic(
            self.n,
            self.numerator_sum,
            self.numerator_sum_squares,
            self.denominator_sum,
            self.denominator_sum_squares,
            self.cross_sum,
        )

    @property
    def pre(self) -> RatioStatistic:
        """The pre-period ratio alone."""
        return RatioStatistic(
            self.n,
            self.pre_numerator_sum,
            self.pre_numerator_sum_squares,
            self.pre_denominator_sum,
            self.pre_denominator_sum_squares,
            self.pre_cross_sum,
        )

    @property
    def mean(self) -> float:
        """The unadjusted ratio of sums."""
        return self.ratio.mean

    def covariance(self) -> tuple[tuple[float, ...], ...]:
        """The 4 x 4 sample covariance (n - 1) of (num, den, pre_num, pre_den); needs n >= 2."""
        require(self.n >= 2, "n", f"need at least 2 units to estimate a variance, got {self.n}")
        sums = (
            self.numerator_sum,
            self.denominator_sum,
            self.pre_numerator_sum,
            self.pre_denominator_sum,
        )
        products = (
            (self.numerator_sum_squares, self.cross_sum,
             self.numerator_pre_numerator_cross_sum, self.numerator_pre_denominator_cross_sum),
            (self.cross_sum, self.denominator_sum_squares,
             self.denominator_pre_numerator_cross_sum, self.denominator_pre_denominator_cross_sum),
            (self.numerator_pre_numerator_cross_sum, self.denominator_pre_numerator_cross_sum,
             self.pre_numerator_sum_squares, self.pre_cross_sum),
            (self.numerator_pre_denominator_cross_sum, self.denominator_pre_denominator_cross_sum,
             self.pre_cross_sum, self.pre_denominator_sum_squares),
        )  # fmt: skip
        return tuple(
            tuple(
                _centred(products[i][j], sums[i], sums[j], self.n) / (self.n - 1) for j in range(4)
            )
            for i in range(4)
        )


MetricStatistic = (
    SampleMeanStatistic
    | ProportionStatistic
    | RegressionAdjustedStatistic
    | RatioStatistic
    | RatioAdjustedStatistic
)


@dataclass(frozen=True, slots=True)
class ArmEstimate:
    """One arm's point estimate with the variance of that estimate and its degrees of freedom.

    `variance` is var(mean) (unit variance / n), `df` the Welch–Satterthwaite degrees of
    freedom of that variance (n - 1 for a plain mean) and `n` the arm's units.
    """

    mean: float
    variance: float
    df: float
    n: int


def estimate_arm(stat: MetricStatistic) -> ArmEstimate:
    """The arm's mean and var(mean) = unit variance / n; raises StatsInputError for n < 2."""
    require(stat.n >= 2, "n", f"need at least 2 units per arm, got {stat.n}")
    if isinstance(stat, RegressionAdjustedStatistic):
        stat = stat.post
    elif isinstance(stat, RatioAdjustedStatistic):
        stat = stat.ratio
    return checked_arm(ArmEstimate(stat.mean, stat.variance / stat.n, float(stat.n - 1), stat.n))


TOO_LARGE = "the values are too large for double precision; rescale the metric (e.g. to thousands)"


def checked_arm(arm: ArmEstimate) -> ArmEstimate:
    """The estimate itself, or StatsInputError when its mean or variance left double range."""
    require(math.isfinite(arm.mean) and math.isfinite(arm.variance), "sum_squares", TOO_LARGE)
    return arm


def satterthwaite_df(components: list[tuple[float, float]]) -> float:
    """Welch–Satterthwaite df of a sum of variance terms [(variance, df)], inf if all are 0."""
    # Scaled by the largest term so squaring never overflows or underflows.
    largest = max((v for v, _ in components), default=0.0)
    if not largest > 0.0 or not math.isfinite(largest):
        return math.inf
    total = sum(v / largest for v, _ in components)
    denominator = sum((v / largest) ** 2 / df for v, df in components if v > 0)
    if denominator <= 0.0:
        return math.inf
    return total * total / denominator


__all__ = [
    "ArmEstimate",
    "MetricStatistic",
    "ProportionStatistic",
    "RatioAdjustedStatistic",
    "RatioStatistic",
    "RegressionAdjustedStatistic",
    "SampleMeanStatistic",
    "StatsInputError",
    "checked_arm",
    "estimate_arm",
    "satterthwaite_df",
]
