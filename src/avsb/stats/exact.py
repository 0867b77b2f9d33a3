"""Exact small-count answers for 0/1 metrics: Fisher's exact test and Newcombe's interval.

Used when some cell of the 2x2 table expects fewer than 5 units (Cochran's rule, symmetric in
the arms and in conversions vs non-conversions), where the normal approximation fails; the
comparison is then on the absolute difference of rates.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from avsb.stats import _dist
from avsb.stats.errors import require
from avsb.stats.frequentist import EffectEstimate, Interval, TestConfig
from avsb.stats.statistics import ProportionStatistic

# Two tables are "as extreme" when their probabilities agree to this relative tolerance
# (R's fisher.test uses the same 1e-7), so rounding never drops a tied table.
_TIE_TOLERANCE = 1e-7


def wilson_interval(successes: float, n: int, alpha: float) -> tuple[float, float]:
    """Wilson score interval for a proportion at two-sided level 1 - alpha, within [0, 1]."""
    require(n >= 1, "n", f"must be >= 1, got {n}")
    z = _dist.normal_ppf(1.0 - alpha / 2)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    return (max(centre - half, 0.0), min(centre + half, 1.0))


def newcombe_interval(
    control: ProportionStatistic, treatment: ProportionStatistic, config: TestConfig
) -> Interval:
    """Newcombe's hybrid score interval (method 10) for p_t - p_c; one-sided leaves an end open."""
    tail = config.alpha if config.two_sided else 2 * config.alpha
    p_t, p_c = treatment.mean, control.mean
    lo_t, hi_t = wilson_interval(treatment.sum, treatment.n, tail)
    lo_c, hi_c = wilson_interval(control.sum, control.n, tail)
    delta = p_t - p_c
    lower = delta - math.hypot(p_t - lo_t, hi_c - p_c)
    upper = delta + math.hypot(hi_t - p_t, p_c - lo_c)
    if config.two_sided:
        return (lower, upper)
    return (None, upper) if config.lower_is_better else (lower, None)


def fisher_exact_log_p(
    control: ProportionStatistic, treatment: ProportionStatistic, alternative: str
) -> float:
    """log p (<= 0) of Fisher's exact test; 'greater' = treatment rate higher; log space."""
    # Summing the hypergeometric pmf in log space keeps extreme tables at a positive p.
    require(alternative in ("two-sided", "greater", "less"), "alternative", "unknown")
    x_t, n_t = round(treatment.sum), treatment.n
    total, successes = n_t + control.n, x_t + round(control.sum)
    lo, hi = max(0, n_t - (total - successes)), min(n_t, successes)
    support = np.arange(lo, hi + 1, dtype=np.float64)
    log_pmf = (
        _log_binomial(successes, support)
        + _log_binomial(total - successes, n_t - support)
        - _log_binomial(total, np.float64(n_t))
    )
    observed = log_pmf[x_t - lo]
    if alternative == "greater":
        selected = log_pmf[x_t - lo :]
    elif alternative == "less":
        selected = log_pmf[: x_t - lo + 1]
    else:
        selected = log_pmf[log_pmf <= observed + math.log1p(_TIE_TOLERANCE)]
    return min(float(special.logsumexp(selected)), 0.0)


def exact_test(
    control: ProportionStatistic, treatment: ProportionStatistic, config: TestConfig
) -> EffectEstimate:
    """Fisher's exact test with Newcombe's interval for the absolute difference p_t - p_c."""
    require(control.n >= 2 and treatment.n >= 2, "n", "need at least 2 units per arm")
    if config.two_sided:
        alternative = "two-sided"
    else:
        alternative = "less" if config.lower_is_better else "greater"
    log_p = fisher_exact_log_p(control, treatment, alternative)
    p_value = _dist.p_from_log(log_p)
    p_t, p_c = treatment.mean, control.mean
    se = math.sqrt(p_t * (1 - p_t) / treatment.n + p_c * (1 - p_c) / control.n)
    return EffectEstimate(
        estimate=p_t - p_c,
        standard_error=se,
        ci=newcombe_interval(control, treatment, config),
        p_value=p_value,
        log_p_value=log_p,
        significant=p_value <= config.alpha,
        difference_type="absolute",
        test="fisher_exact",
    )


# Cochran's rule: the normal approximation needs every expected cell of the 2x2 table >= 5.
MIN_EXPECTED_COUNT = 5.0


def needs_exact_test(control: ProportionStatistic, treatment: ProportionStatistic) -> bool:
    """True when some cell of the 2x2 table expects fewer than 5 units under no difference.

    The smallest expected cell is min(n_c, n_t) * min(conversions, non-conversions) / n, so the
    rule treats the two arms alike and conversions like non-conversions: relabelling either
    never changes which test runs (0/100 vs 3/100 and 100/100 vs 97/100 both get Fisher).
    """
    total = control.n + treatment.n
    successes = control.sum + treatment.sum
    smallest = min(control.n, treatment.n) * (min(successes, total - successes) / total)
    return smallest < MIN_EXPECTED_COUNT


def _log_binomial(n: float, k: np.ndarray | np.float64) -> np.ndarray:
    """log C(n, k), elementwise."""
    return np.asarray(special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1))


__all__ = [
    "MIN_EXPECTED_COUNT",
    "exact_test",
    "fisher_exact_log_p",
    "needs_exact_test",
    "newcombe_interval",
    "wilson_interval",
]
