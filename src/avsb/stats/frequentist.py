"""Fixed-horizon frequentist comparison: Welch's t-test on the absolute or relative lift.

The difference of two independent arm means has variance v_t + v_c (each var(mean)); the
relative lift m_t / m_c - 1 has, by the delta method, variance v_t / m_c^2 + m_t^2 v_c / m_c^4.
Either way the degrees of freedom are Welch–Satterthwaite's over the two variance terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from avsb.stats import _dist
from avsb.stats.errors import StatsInputError, require
from avsb.stats.statistics import ArmEstimate, MetricStatistic, estimate_arm, satterthwaite_df

DifferenceType = Literal["absolute", "relative"]
# A confidence or credible interval; None marks the open end of a one-sided interval.
Interval = tuple[float | None, float | None]


@dataclass(frozen=True, slots=True)
class TestConfig:
    """How to test: level alpha in (0, 1), sidedness, metric direction and lift scale.

    One-sided means "the variant is better": greater for a metric where higher is better,
    smaller when `lower_is_better`.
    """

    __test__ = False  # not a pytest test class despite the name

    alpha: float = 0.05
    two_sided: bool = True
    lower_is_better: bool = False
    difference_type: DifferenceType = "relative"

    def __post_init__(self) -> None:
        require(0.0 < self.alpha < 1.0, "alpha", f"must be in (0, 1), got {self.alpha}")


@dataclass(frozen=True, slots=True)
class Difference:
    """A treatment-minus-control effect with var(estimate) and Welch–Satterthwaite df."""

    estimate: float
    variance: float
    df: float
    difference_type: DifferenceType

    @property
    def standard_error(self) -> float:
        """sqrt(variance), >= 0."""
        return math.sqrt(self.variance)


@dataclass(frozen=True, slots=True)
class EffectEstimate:
    """A tested effect: estimate, SE, interval (None = open end), p-value and its natural log.

    `p_value` is never 0 for finite data: below the smallest normal double it is clamped there
    and `log_p_value` keeps its true size. `test` names the test that produced it.
    """

    estimate: float
    standard_error: float
    ci: Interval
    p_value: float
    log_p_value: float
    significant: bool
    difference_type: DifferenceType
    test: str
    df: float | None = None


def difference(
    control: ArmEstimate, treatment: ArmEstimate, difference_type: DifferenceType
) -> Difference:
    """Treatment minus control (absolute) or treatment / control - 1 (relative, delta method)."""
    if difference_type == "absolute":
        terms = [(treatment.variance, treatment.df), (control.variance, control.df)]
        return Difference(
            treatment.mean - control.mean,
            treatment.variance + control.variance,
            satterthwaite_df(terms),
            "absolute",
        )
    if control.mean == 0:
        raise StatsInputError(
            "control.mean", "relative lift is undefined when the control mean is 0"
        )
    mc, mt = control.mean, treatment.mean
    term_t = treatment.variance / mc**2
    term_c = mt**2 * control.variance / mc**4
    df = satterthwaite_df([(term_t, treatment.df), (term_c, control.df)])
    return Difference(mt / mc - 1.0, term_t + term_c, df, "relative")


def check_variance(diff: Difference) -> None:
    """Raise StatsInputError when both arms have zero variance: no test is defined."""
    if diff.variance <= 0.0:
        raise StatsInputError("variance", "both arms have zero variance; no test is possible")


def directional(value: float, lower_is_better: bool) -> float:
    """A signed effect turned so that positive always means the variant is better."""
    return -value if lower_is_better else value


def confidence_interval(diff: Difference, config: TestConfig) -> Interval:
    """Welch t interval at level 1 - alpha; one-sided leaves the 'better' end open (None)."""
    se = diff.standard_error
    if config.two_sided:
        half = _dist.t_ppf(1.0 - config.alpha / 2, diff.df) * se
        return (diff.estimate - half, diff.estimate + half)
    half = _dist.t_ppf(1.0 - config.alpha, diff.df) * se
    if config.lower_is_better:
        return (None, diff.estimate + half)
    return (diff.estimate - half, None)


def welch_test(diff: Difference, config: TestConfig) -> EffectEstimate:
    """Welch's t-test of the effect against 0: p from the t survival function, CI at 1 - alpha."""
    check_variance(diff)
    statistic = diff.estimate / diff.standard_error
    if config.two_sided:
        log_p = _dist.two_sided_log_p(statistic, diff.df)
    else:
        log_p = _dist.t_log_sf(directional(statistic, config.lower_is_better), diff.df)
    p_value = _dist.p_from_log(log_p)
    return EffectEstimate(
        estimate=diff.estimate,
        standard_error=diff.standard_error,
        ci=confidence_interval(diff, config),
        p_value=p_value,
        log_p_value=min(log_p, 0.0),
        significant=p_value <= config.alpha,
        difference_type=diff.difference_type,
        test="welch_t",
        df=diff.df,
    )


def compare(
    control: MetricStatistic, treatment: MetricStatistic, config: TestConfig
) -> EffectEstimate:
    """Welch's t-test of treatment vs control from sufficient statistics (any metric kind)."""
    arms = []
    for role, stat in (("control", control), ("treatment", treatment)):
        try:
            arms.append(estimate_arm(stat))
        except StatsInputError as error:
            raise error.within(role) from None
    return welch_test(difference(arms[0], arms[1], config.difference_type), config)


__all__ = [
    "Difference",
    "DifferenceType",
    "EffectEstimate",
    "Interval",
    "TestConfig",
    "check_variance",
    "compare",
    "confidence_interval",
    "difference",
    "directional",
    "welch_test",
]
