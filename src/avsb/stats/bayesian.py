"""Bayesian readout: posterior of the lift, chance to win, expected losses, credible interval.

0/1 metrics with a flat prior use the exact posteriors: each rate is Beta(1 + x, 1 + n - x)
(uniform prior), and the chance to win, the expected losses and the interval of p_t - p_c
(or p_t / p_c - 1) are integrals over the control rate, by 128-point Gauss–Legendre
quadrature over its posterior's bulk (mean +- 12 SD): deterministic, no draws.

Other metrics (and 0/1 metrics with a normal prior on the lift) use the normal model of the
absolute difference d = m_t - m_c, d_hat ~ N(d, SE^2), as GrowthBook's gbstats effect model
does. A prior N(mu0, s0^2) on the relative lift is a prior on d / m_c, so the model is solved
in units of the control mean and the precisions add. The chance to win is P(d > 0) (or < 0
when lower is better), which does not depend on how the lift is shown; a relative credible
interval is Fieller's interval for d / m_c under the joint normal posterior of (d, m_c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import legendre
from scipy import special

from avsb.stats import _dist
from avsb.stats.errors import StatsInputError, require
from avsb.stats.frequentist import (
    Contrast,
    Difference,
    DifferenceType,
    Interval,
    TestConfig,
    check_variance,
    directional,
    fieller_interval,
)
from avsb.stats.statistics import ProportionStatistic

# Gauss–Legendre nodes on (0, 1), mapped onto a posterior's bulk by `_beta_nodes`.
_NODES, _WEIGHTS = legendre.leggauss(128)
_U = (_NODES + 1.0) / 2.0
_W = _WEIGHTS / 2.0

# A prior on the relative lift outside these bounds is no belief anyone holds, and would make
# the posterior degenerate (a point mass, or the prior swamped by rounding).
MIN_PRIOR_SD = 1e-6
MAX_PRIOR = 1e6


@dataclass(frozen=True, slots=True)
class NormalPrior:
    """A normal prior N(mean, sd^2) on the relative lift (0.1 = +10%); sd in [1e-6, 1e6]."""

    mean: float = 0.0
    sd: float = 0.3

    def __post_init__(self) -> None:
        require(
            math.isfinite(self.mean) and abs(self.mean) <= MAX_PRIOR,
            "prior.mean",
            f"must be a relative lift within +-{MAX_PRIOR:g}, got {self.mean}",
        )
        require(
            math.isfinite(self.sd) and MIN_PRIOR_SD <= self.sd <= MAX_PRIOR,
            "prior.sd",
            f"must be in [{MIN_PRIOR_SD:g}, {MAX_PRIOR:g}] (a relative lift), got {self.sd}",
        )


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
    notes: tuple[str, ...] = ()


def _combine(estimate: float, se: float, prior: NormalPrior | None) -> tuple[float, float]:
    """Posterior (mean, sd) of N(estimate, se^2) data with the prior, in the prior's units.

    Written with ratios of the two SDs (never their squares or inverse squares), so no scale
    of input overflows or underflows to a zero-width posterior.
    """
    if prior is None:
        return estimate, se
    s0 = prior.sd
    if se >= s0:
        ratio = s0 / se
        weight = ratio * ratio / (1.0 + ratio * ratio)  # the data's share of the precision
        sd = s0 / math.hypot(1.0, ratio)
    else:
        ratio = se / s0
        weight = 1.0 / (1.0 + ratio * ratio)
        sd = se / math.hypot(1.0, ratio)
    return weight * estimate + (1.0 - weight) * prior.mean, sd


def _prior_unit(control_mean: float, prior: NormalPrior | None) -> float:
    """The control mean that turns a relative prior into absolute units (1 without a prior)."""
    if prior is None:
        return 1.0
    if not control_mean > 0:
        raise StatsInputError(
            "prior",
            "a prior on the relative lift needs a positive control mean "
            f"(got {control_mean:.6g}); drop the prior for this metric",
        )
    return control_mean


def posterior(
    diff: Difference, control_mean: float, prior: NormalPrior | None
) -> tuple[float, float]:
    """Posterior (mean, sd) of the lift; a relative-lift prior is scaled by the control mean."""
    check_variance(diff)
    unit = 1.0 if diff.difference_type == "relative" else _prior_unit(control_mean, prior)
    mean, sd = _combine(diff.estimate / unit, diff.standard_error / unit, prior)
    require(sd > 0 and math.isfinite(sd), "variance", "the posterior has no spread left")
    return mean * unit, sd * unit


def _summaries(mean: float, sd: float, test: TestConfig) -> tuple[float, float, float]:
    """(chance to win, risk of keeping control, risk of shipping) for N(mean, sd^2), sd > 0."""
    better = directional(mean, test.lower_is_better)
    ratio = better / sd
    chance = _dist.normal_cdf(ratio)
    gain = better * chance + sd * _dist.normal_pdf(ratio)
    return chance, max(gain, 0.0), max(gain - better, 0.0)


def bayesian_test(diff: Difference, control_mean: float, config: BayesianConfig) -> BayesianResult:
    """Gaussian posterior of a given lift: chance to win, expected losses, credible interval."""
    mean, sd = posterior(diff, control_mean, config.prior)
    test = config.test
    chance, risk_control, risk_variant = _summaries(mean, sd, test)
    return BayesianResult(
        estimate=mean,
        posterior_sd=sd,
        ci=_normal_interval(mean, sd, test),
        chance_to_win=chance,
        risk_control=risk_control,
        risk_variant=risk_variant,
        significant=_decisive(chance, test),
        difference_type=diff.difference_type,
        test="gaussian_posterior",
    )


def bayesian_contrast(item: Contrast, config: BayesianConfig) -> BayesianResult:
    """Normal model of d = m_t - m_c, shown on the contrast's scale (see the module notes)."""
    check_variance(item.absolute)
    test, prior = config.test, config.prior
    control_mean = item.control.mean
    unit = control_mean if item.scale == "relative" else _prior_unit(control_mean, prior)
    se_t = math.sqrt(item.treatment.variance) / unit
    se_c = math.sqrt(item.control.variance) / unit
    se_d = math.hypot(se_t, se_c)
    require(
        se_d > 0 and math.isfinite(se_d),
        "variance",
        "the standard error is negligible next to the control mean; rescale the metric",
    )
    observed = item.absolute.estimate / unit
    mean, sd = _combine(observed, se_d, prior)
    chance, risk_control, risk_variant = _summaries(mean, sd, test)
    if item.scale == "absolute":
        return BayesianResult(
            estimate=mean * unit,
            posterior_sd=sd * unit,
            ci=_normal_interval(mean * unit, sd * unit, test),
            chance_to_win=chance,
            risk_control=risk_control * unit,
            risk_variant=risk_variant * unit,
            significant=_decisive(chance, test),
            difference_type="absolute",
            test="gaussian_posterior",
            notes=item.notes,
        )
    # Joint posterior of (c, d), c = m_c / m_c_hat: the data tie c to d with slope
    # beta = cov / var = -se_c^2 / se_d^2; a prior on d alone moves c along that line.
    share = se_c / se_d
    beta = -share * share
    centre = 1.0 + beta * (mean - observed)
    c_sd = math.hypot(se_c * math.sqrt(max(1.0 - share * share, 0.0)), beta * sd)
    corr = beta * sd / c_sd if c_sd > 0 else 0.0
    two, one = _dist.normal_ppf(1 - test.alpha / 2), _dist.normal_ppf(1 - test.alpha)
    ci = fieller_interval((mean / centre, sd / centre, c_sd / centre, corr), two, one, test)
    return BayesianResult(
        estimate=mean / centre,
        posterior_sd=sd / centre,
        ci=ci,
        chance_to_win=chance,
        risk_control=risk_control / centre,
        risk_variant=risk_variant / centre,
        significant=_decisive(chance, test),
        difference_type="relative",
        test="gaussian_posterior",
        notes=item.notes,
    )


def beta_binomial_test(
    control: ProportionStatistic,
    treatment: ProportionStatistic,
    config: BayesianConfig,
    difference_type: DifferenceType = "absolute",
) -> BayesianResult:
    """Beta(1, 1)-Binomial posteriors of both rates; summaries of the lift by quadrature.

    The lift is p_t - p_c, or p_t / p_c - 1 when `difference_type` is relative and the control
    has at least 2 conversions (with fewer, E[1 / p_c] or E[1 / p_c^2] is infinite: the answer
    is absolute, with a note). Every integral runs over the narrower posterior's nodes, where
    the integrand (a CDF or partial moment of the wider one) is smooth.
    """
    c = (1.0 + control.sum, 1.0 + control.n - control.sum)
    t = (1.0 + treatment.sum, 1.0 + treatment.n - treatment.sum)
    notes: tuple[str, ...] = ()
    relative = difference_type == "relative"
    if relative and control.sum < 2:
        relative = False
        notes = (
            "relative lift needs at least 2 control conversions (with fewer its posterior "
            "mean or variance is infinite): the effect is reported as the absolute difference",
        )
    outer_is_control = _beta_var(*c) <= _beta_var(*t)
    nodes, w = _beta_nodes(*(c if outer_is_control else t))
    mean_t, mean_c = t[0] / (t[0] + t[1]), c[0] / (c[0] + c[1])
    if outer_is_control:  # x = p_c at the nodes; moments of p_t given p_t > x
        p_up = float(np.dot(w, special.betaincc(t[0], t[1], nodes)))
        upside = mean_t * special.betaincc(t[0] + 1, t[1], nodes) - nodes * special.betaincc(
            t[0], t[1], nodes
        )
        gain_up = float(np.dot(w, upside / nodes if relative else upside))
    else:  # y = p_t at the nodes; moments of p_c given p_c < y
        below = special.betainc(c[0], c[1], nodes)
        p_up = float(np.dot(w, below))
        if relative:  # E[max(y / p_c - 1, 0)] = y E[1 / p_c; p_c < y] - P(p_c < y)
            inverse = (c[0] + c[1] - 1.0) / (c[0] - 1.0)
            upside = nodes * inverse * special.betainc(c[0] - 1, c[1], nodes) - below
        else:  # E[max(y - p_c, 0)] = y P(p_c < y) - E[p_c; p_c < y]
            upside = nodes * below - mean_c * special.betainc(c[0] + 1, c[1], nodes)
        gain_up = float(np.dot(w, upside))
    if relative:
        inverse_mean_c = (c[0] + c[1] - 1.0) / (c[0] - 1.0)  # E[1 / p_c]
        inverse_square_c = inverse_mean_c * (c[0] + c[1] - 2.0) / (c[0] - 2.0) if c[0] > 2 else 0
        second_t = t[0] * (t[0] + 1) / ((t[0] + t[1]) * (t[0] + t[1] + 1))
        delta = mean_t * inverse_mean_c - 1.0
        sd = math.sqrt(max(second_t * inverse_square_c - (delta + 1) ** 2, 0.0))
    else:
        delta = mean_t - mean_c
        sd = math.sqrt(_beta_var(*t) + _beta_var(*c))
    gain_down = gain_up - delta
    test = config.test
    if test.lower_is_better:
        chance, risk_control, risk_variant = 1.0 - p_up, gain_down, gain_up
    else:
        chance, risk_control, risk_variant = p_up, gain_up, gain_down
    return BayesianResult(
        estimate=delta,
        posterior_sd=sd,
        ci=_beta_lift_interval(c, t, (nodes, w, outer_is_control), (delta, sd), test, relative),
        chance_to_win=min(max(chance, 0.0), 1.0),
        risk_control=max(risk_control, 0.0),
        risk_variant=max(risk_variant, 0.0),
        significant=_decisive(chance, test),
        difference_type="relative" if relative else "absolute",
        test="beta_binomial",
        notes=notes,
    )


def _beta_nodes(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes over Beta(a, b)'s bulk (mean +- 12 SD, within [0, 1]) with weights
    proportional to its density there, summing to 1: E[g(p)] = sum(w * g(x)) for smooth g.

    a, b >= 1 (a uniform prior plus counts), so the density is bounded and, past 12 SDs,
    negligible (the weights are renormalised over the range)."""
    mean, sd = a / (a + b), math.sqrt(_beta_var(a, b))
    low, high = max(0.0, mean - 12 * sd), min(1.0, mean + 12 * sd)
    x = low + (high - low) * _U
    log_pdf = special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x)
    w = _W * np.exp(log_pdf - log_pdf.max())
    return x, w / w.sum()


def _beta_var(a: float, b: float) -> float:
    return a * b / ((a + b) ** 2 * (a + b + 1))


def _beta_cdf_pdf(a: float, b: float, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beta(a, b) CDF and density at points (clipped to [0, 1]; density 0 outside (0, 1))."""
    clipped = np.clip(points, 0.0, 1.0)
    inside = (clipped > 0.0) & (clipped < 1.0)
    safe = np.where(inside, clipped, 0.5)
    log_pdf = special.xlogy(a - 1, safe) + special.xlog1py(b - 1, -safe) - special.betaln(a, b)
    return special.betainc(a, b, clipped), np.where(inside, np.exp(log_pdf), 0.0)


def _beta_lift_interval(
    c: tuple[float, float],
    t: tuple[float, float],
    outer: tuple[np.ndarray, np.ndarray, bool],
    moments: tuple[float, float],
    test: TestConfig,
    relative: bool,
) -> Interval:
    """Quantiles of the lift: roots of P(lift <= d) = q, integrated over the outer posterior.

    Over control nodes x: P(p_t <= x + d) (relative: x (1 + d)); over treatment nodes y:
    P(p_c >= y - d) (relative: y / (1 + d)). Newton steps on the CDF (its derivative is the
    integrated Beta density) from the normal guess, kept inside a shrinking bracket.
    """
    nodes, w, outer_is_control = outer

    def cdf_pdf(d: float) -> tuple[float, float]:
        if outer_is_control:
            moved = nodes * (1.0 + d) if relative else nodes + d
            cdf, pdf = _beta_cdf_pdf(*t, moved)
            slope = nodes if relative else np.ones_like(nodes)
            return float(np.dot(w, cdf)), float(np.dot(w, pdf * slope))
        moved = nodes / (1.0 + d) if relative else nodes - d
        cdf, pdf = _beta_cdf_pdf(*c, moved)
        slope = nodes / (1.0 + d) ** 2 if relative else np.ones_like(nodes)
        return float(np.dot(w, 1.0 - cdf)), float(np.dot(w, pdf * slope))

    centre, spread = moments

    def quantile(q: float) -> float:
        lo, hi = -1.0, math.inf
        d = max(centre + _dist.normal_ppf(q) * spread, -1.0 + 1e-12)
        for _ in range(200):
            cdf, pdf = cdf_pdf(d)
            if abs(cdf - q) < 1e-11 or hi - lo < 1e-14 * max(1.0, abs(d)):
                break
            if cdf < q:
                lo = d
            else:
                hi = d
            step = d - (cdf - q) / pdf if pdf > 0 else math.nan
            if lo < step < hi:
                d = step
            else:  # bisect, or step out to find the upper end of the bracket
                d = (lo + hi) / 2 if math.isfinite(hi) else max(2 * d - lo, d + 1.0)
        return d

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
    "MAX_PRIOR",
    "MIN_PRIOR_SD",
    "BayesianConfig",
    "BayesianResult",
    "NormalPrior",
    "bayesian_contrast",
    "bayesian_test",
    "beta_binomial_test",
    "posterior",
]
