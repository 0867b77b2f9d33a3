"""Fixed-horizon frequentist comparison: one Welch t-test on the absolute difference.

The difference of two independent arm means has variance v_t + v_c (each var(mean)) and
Welch–Satterthwaite degrees of freedom. That test gives the one p-value of a comparison,
whatever scale the effect is shown on. A relative lift m_t / m_c - 1 is shown with Fieller's
(1954) interval, the set of ratios r for which m_t - r m_c = 0 is not rejected: it excludes 0
exactly when the absolute test rejects, and it misses evenly on both sides where the
symmetric delta-method interval (variance v_t / m_c^2 + m_t^2 v_c / m_c^4) leans low. A control
mean that is <= 0, or not clearly away from 0, has no meaningful relative lift: the comparison is
then reported on the absolute scale with a note saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
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
    notes: tuple[str, ...] = ()


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
    # Ratios first, then squares: no intermediate m^4 to overflow.
    se_t = math.sqrt(treatment.variance) / mc
    se_c = mt / mc * math.sqrt(control.variance) / mc
    term_t, term_c = se_t * se_t, se_c * se_c
    df = satterthwaite_df([(term_t, treatment.df), (term_c, control.df)])
    return Difference(mt / mc - 1.0, term_t + term_c, df, "relative")


@dataclass(frozen=True, slots=True)
class Contrast:
    """A variant against the control: the absolute difference (what is tested) and the scale
    the effect is reported on (`scale`), with notes saying why a requested scale was changed."""

    control: ArmEstimate
    treatment: ArmEstimate
    absolute: Difference
    scale: DifferenceType
    notes: tuple[str, ...] = ()


def contrast(
    control: ArmEstimate, treatment: ArmEstimate, requested: DifferenceType, critical: float
) -> Contrast:
    """Treatment vs control; relative only when the control mean is > 0 and, at the test's
    critical value, clearly away from 0 (else Fieller's set is unbounded): absolute otherwise."""
    absolute = difference(control, treatment, "absolute")
    check_finite_difference(absolute)
    if requested == "absolute":
        return Contrast(control, treatment, absolute, "absolute")
    mean = control.mean
    if mean <= 0:
        note = (
            f"relative lift needs a positive control mean (got {mean:.6g}): the effect is "
            "reported as the absolute difference, so its sign always means treatment - control"
        )
        return Contrast(control, treatment, absolute, "absolute", (note,))
    if critical * math.sqrt(control.variance) >= mean:
        note = (
            f"the control mean {mean:.6g} is within {critical:.3g} standard errors of 0, so the "
            "relative lift is unbounded: the effect is reported as the absolute difference"
        )
        return Contrast(control, treatment, absolute, "absolute", (note,))
    return Contrast(control, treatment, absolute, "relative")


def check_finite_difference(diff: Difference) -> None:
    """Raise StatsInputError when the difference or its variance left double range."""
    if not (math.isfinite(diff.estimate) and math.isfinite(diff.variance)):
        raise StatsInputError(
            "variance", "the values are too large for double precision; rescale the metric"
        )


def ratio_bounds(
    q: float, sn: float, sd: float, corr: float, critical: float
) -> tuple[float, float] | None:
    """Fieller's (1954) bounds for N / D, in units of D's mean (so D's mean is 1).

    q = mean(N) / mean(D), sn and sd the SDs of N and D over mean(D), corr their correlation:
    the set {r : |q - r| <= critical * sd(N - r D)} solved as a quadratic in r. None when it
    is unbounded (critical * sd >= 1: D is not clearly away from 0).
    """
    a = 1.0 - (critical * sd) * (critical * sd)
    if a <= 0.0 or critical * sd >= 1.0:
        return None
    centre = q - critical * critical * corr * sn * sd
    # The discriminant, rearranged as a sum of squares so it never goes negative or overflows.
    half = critical * math.hypot(
        sn * math.sqrt(a * max(1.0 - corr * corr, 0.0)), sd * q - corr * sn
    )
    return ((centre - half) / a, (centre + half) / a)


def relative_interval(
    item: Contrast, critical_two_sided: float, critical_one_sided: float, config: TestConfig
) -> Interval:
    """Fieller interval of the relative lift at the given critical values (None = open end).

    Written for N = m_t - m_c and D = m_c, whose correlation is -sqrt(v_c / (v_t + v_c)).
    """
    mean = item.control.mean
    se_diff = math.hypot(math.sqrt(item.treatment.variance), math.sqrt(item.control.variance))
    se_control = math.sqrt(item.control.variance)
    corr = -se_control / se_diff if se_diff > 0 else 0.0
    q = item.absolute.estimate / mean
    moments = (q, se_diff / mean, se_control / mean, corr)
    return fieller_interval(moments, critical_two_sided, critical_one_sided, config)


def fieller_interval(
    moments: tuple[float, float, float, float],
    critical_two_sided: float,
    critical_one_sided: float,
    config: TestConfig,
) -> Interval:
    """Two- or one-sided Fieller interval of N / D; moments = (q, sn, sd, corr) as in
    `ratio_bounds`; an unbounded set gives None ends."""
    critical = critical_two_sided if config.two_sided else critical_one_sided
    bounds = ratio_bounds(*moments, critical)
    lower, upper = (None, None) if bounds is None else bounds
    if config.two_sided:
        return (lower, upper)
    if config.lower_is_better:
        return (None, upper)
    return (lower, None)


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


def t_critical(alpha: float, df: float) -> tuple[float, float]:
    """(two-sided, one-sided) critical values of Student's t with df degrees of freedom."""
    return _dist.t_ppf(1.0 - alpha / 2, df), _dist.t_ppf(1.0 - alpha, df)


def fixed_contrast(control: ArmEstimate, treatment: ArmEstimate, config: TestConfig) -> Contrast:
    """The contrast a fixed-horizon test reports, deciding the scale at the test's level."""
    df = difference(control, treatment, "absolute").df
    two, one = t_critical(config.alpha, df)
    return contrast(control, treatment, config.difference_type, two if config.two_sided else one)


def fixed_interval(item: Contrast, config: TestConfig) -> Interval:
    """The Welch interval on the contrast's scale at level 1 - config.alpha."""
    if item.scale == "absolute":
        return confidence_interval(item.absolute, config)
    two, one = t_critical(config.alpha, item.absolute.df)
    return relative_interval(item, two, one, config)


def on_contrast_scale(
    item: Contrast, tested: EffectEstimate, interval: Callable[[], Interval]
) -> EffectEstimate:
    """A test of the absolute difference shown on the contrast's scale: its p-value and verdict
    kept, the estimate and ``interval()`` relative when the contrast is relative."""
    if item.scale == "absolute":
        return replace(tested, notes=item.notes)
    relative = difference(item.control, item.treatment, "relative")
    return replace(
        tested,
        estimate=relative.estimate,
        standard_error=relative.standard_error,
        ci=interval(),
        difference_type="relative",
        notes=item.notes,
    )


def fixed_test(item: Contrast, config: TestConfig) -> EffectEstimate:
    """Welch's t-test of the absolute difference; effect and interval on the contrast's scale."""
    tested = welch_test(item.absolute, config)
    return on_contrast_scale(item, tested, lambda: fixed_interval(item, config))


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
    return fixed_test(fixed_contrast(arms[0], arms[1], config), config)


__all__ = [
    "Contrast",
    "Difference",
    "DifferenceType",
    "EffectEstimate",
    "Interval",
    "TestConfig",
    "check_variance",
    "compare",
    "confidence_interval",
    "contrast",
    "difference",
    "directional",
    "fieller_interval",
    "fixed_contrast",
    "fixed_interval",
    "fixed_test",
    "ratio_bounds",
    "relative_interval",
    "t_critical",
    "welch_test",
]
