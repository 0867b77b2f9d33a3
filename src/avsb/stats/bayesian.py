"""Bayesian readout: a Gaussian model of the lift, chance to win, expected loss, credible interval.

The lift estimate is treated as lift_hat ~ N(lift, SE^2) (as GrowthBook's gbstats effect model
does); with a flat prior the posterior is N(lift_hat, SE^2), with a normal prior N(mu0, s0^2)
on the relative lift the precisions add. For 0/1 metrics whose control has no conversions the
Gaussian model has nothing to stand on, and `beta_binomial_test` integrates the two Beta
posteriors instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import legendre
from scipy import optimize, special

from avsb.stats import _dist
from avsb.stats.errors import require
from avsb.stats.frequentist import (
    Difference,
    DifferenceType,
    Interval,
    TestConfig,
    check_variance,
    directional,
)
from avsb.stats.statistics import ProportionStatistic

# Gauss–Legendre nodes over the control posterior's quantiles (u in (0, 1)).
_NODES, _WEIGHTS = legendre.leggauss(256)
_U = (_NODES + 1.0) / 2.0
_W = _WEIGHTS / 2.0


@dataclass(frozen=True, slots=True)
class NormalPrior:
    """A normal prior N(mean, sd^2) on the relative lift (0.1 = +10%); sd > 0."""

    mean: float = 0.0
    sd: float = 0.3

    def __post_init__(self) -> None:
        require(math.isfinite(self.mean), "prior.mean", "must be finite")
        require(math.isfinite(self.sd) and self.sd > 0, "prior.sd", "must be > 0")


@dataclass(frozen=True, slots=True)
class BayesianConfig:
    """Test settings (alpha sets the credible level) and an optional prior (None = flat)."""

    test: TestConfig = field(default_factory=TestConfig)
    prior: NormalPrior | None = None


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """Posterior summary of the lift; chance_to_win in [0, 1], risks >= 0 in lift units.

    risk_control is the expected loss of keeping the control (what is given up if the variant
    is really better); risk_variant that of shipping the variant.
    """

    estimate: float
    posterior_sd: float
    ci: Interval
    chance_to_win: float
    risk_control: float
    risk_variant: float
    significant: bool
    difference_type: DifferenceType
    test: str


def posterior(
    diff: Difference, control_mean: float, prior: NormalPrior | None
) -> tuple[float, float]:
    """Posterior (mean, sd) of the lift; a relative-lift prior is scaled by the control mean."""
    check_variance(diff)
    if prior is None:
        return diff.estimate, diff.standard_error
    scale = 1.0 if diff.difference_type == "relative" else control_mean
    prior_mean, prior_var = prior.mean * scale, (prior.sd * scale) ** 2
    if prior_var <= 0:  # a relative prior says nothing about a zero control mean
        return diff.estimate, diff.standard_error
    precision = 1.0 / diff.variance + 1.0 / prior_var
    mean = (diff.estimate / diff.variance + prior_mean / prior_var) / precision
    return mean, math.sqrt(1.0 / precision)


def bayesian_test(diff: Difference, control_mean: float, config: BayesianConfig) -> BayesianResult:
    """Gaussian posterior of the lift: chance to win, expected losses, credible interval."""
    mean, sd = posterior(diff, control_mean, config.prior)
    test = config.test
    better = directional(mean, test.lower_is_better)
    if sd > 0:
        chance = _dist.normal_cdf(better / sd)
        gain = better * chance + sd * _dist.normal_pdf(better / sd)
    else:
        chance = 1.0 if better > 0 else 0.0
        gain = max(better, 0.0)
    ci = _normal_interval(mean, sd, test)
    return BayesianResult(
        estimate=mean,
        posterior_sd=sd,
        ci=ci,
        chance_to_win=chance,
        risk_control=max(gain, 0.0),
        risk_variant=max(gain - better, 0.0),
        significant=_decisive(chance, test),
        difference_type=diff.difference_type,
        test="gaussian_posterior",
    )


def beta_binomial_test(
    control: ProportionStatistic, treatment: ProportionStatistic, config: BayesianConfig
) -> BayesianResult:
    """Beta(1, 1)-Binomial posteriors of both rates; summaries of p_t - p_c by quadrature."""
    a_c, b_c = 1.0 + control.sum, 1.0 + control.n - control.sum
    a_t, b_t = 1.0 + treatment.sum, 1.0 + treatment.n - treatment.sum
    x = special.betaincinv(a_c, b_c, _U)  # control-rate quantiles at the nodes
    mean_t, mean_c = a_t / (a_t + b_t), a_c / (a_c + b_c)
    p_up = float(np.dot(_W, special.betaincc(a_t, b_t, x)))
    upside = mean_t * special.betaincc(a_t + 1, b_t, x) - x * special.betaincc(a_t, b_t, x)
    gain_up = float(np.dot(_W, upside))
    delta = mean_t - mean_c
    gain_down = gain_up - delta
    test = config.test
    if test.lower_is_better:
        chance, risk_control, risk_variant = 1.0 - p_up, gain_down, gain_up
    else:
        chance, risk_control, risk_variant = p_up, gain_up, gain_down
    sd = math.sqrt(_beta_var(a_t, b_t) + _beta_var(a_c, b_c))
    return BayesianResult(
        estimate=delta,
        posterior_sd=sd,
        ci=_beta_difference_interval((a_t, b_t), x, test),
        chance_to_win=min(max(chance, 0.0), 1.0),
        risk_control=max(risk_control, 0.0),
        risk_variant=max(risk_variant, 0.0),
        significant=_decisive(chance, test),
        difference_type="absolute",
        test="beta_binomial",
    )


def _beta_var(a: float, b: float) -> float:
    return a * b / ((a + b) ** 2 * (a + b + 1))


def _beta_difference_interval(
    treatment: tuple[float, float], control_quantiles: np.ndarray, test: TestConfig
) -> Interval:
    """Quantiles of p_t - p_c: root of P(p_t - p_c <= d) = q, the CDF integrated over p_c."""

    def cdf(d: float) -> float:
        shifted = np.clip(control_quantiles + d, 0.0, 1.0)
        return float(np.dot(_W, special.betainc(treatment[0], treatment[1], shifted)))

    def quantile(q: float) -> float:
        return float(optimize.brentq(lambda d: cdf(d) - q, -1.0, 1.0, xtol=1e-10))

    if test.two_sided:
        return (quantile(test.alpha / 2), quantile(1 - test.alpha / 2))
    if test.lower_is_better:
        return (None, quantile(1 - test.alpha))
    return (quantile(test.alpha), None)


def _normal_interval(mean: float, sd: float, test: TestConfig) -> Interval:
    if test.two_sided:
        half = _dist.normal_ppf(1 - test.alpha / 2) * sd
        return (mean - half, mean + half)
    half = _dist.normal_ppf(1 - test.alpha) * sd
    return (None, mean + half) if test.lower_is_better else (mean - half, None)


def _decisive(chance_to_win: float, test: TestConfig) -> bool:
    """True when the credible interval excludes 0: P(win) beyond 1 - alpha (/2 if two-sided)."""
    if test.two_sided:
        return chance_to_win > 1 - test.alpha / 2 or chance_to_win < test.alpha / 2
    return chance_to_win > 1 - test.alpha


__all__ = [
    "BayesianConfig",
    "BayesianResult",
    "NormalPrior",
    "bayesian_test",
    "beta_binomial_test",
    "posterior",
]
