"""Distribution helpers: survival functions in log space so tiny p-values never round to 0.

The scalar paths use `scipy.special` ufuncs directly (a few microseconds a call) rather than
`scipy.stats` distribution objects, whose argument checking costs ~50x more per call.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from scipy import integrate, special

# The smallest positive normal double: a p-value below it is reported as this, and its exact
# size is kept in the accompanying log p-value.
TINY_P = sys.float_info.min
# Below this the direct survival function loses relative precision; switch to the tail integral.
_DIRECT_SF_FLOOR = 1e-250


def p_from_log(log_p: float) -> float:
    """The p-value exp(log_p) clamped to [TINY_P, 1]; never 0 for a finite statistic."""
    if log_p >= 0.0:
        return 1.0
    return max(math.exp(log_p), TINY_P)


def normal_log_sf(z: float) -> float:
    """log P(Z > z) for a standard normal Z; exact in the far tail (log_ndtr)."""
    return float(special.log_ndtr(-z))


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z, in [0, 1]."""
    return float(special.ndtr(-z))


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z, in [0, 1]."""
    return float(special.ndtr(z))


def normal_pdf(z: float) -> float:
    """The standard normal density at z."""
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def normal_ppf(q: float) -> float:
    """The q-quantile of the standard normal, q in (0, 1)."""
    return float(special.ndtri(q))


def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t with df degrees of freedom (df = inf: normal)."""
    if math.isinf(df):
        return normal_ppf(q)
    return float(special.stdtrit(df, q))


def t_log_sf(x: float, df: float) -> float:
    """log P(T > x) for Student's t with df > 0 degrees of freedom (df = inf: normal)."""
    if math.isinf(df):
        return normal_log_sf(x)
    sf = float(special.stdtr(df, -x))
    if sf > _DIRECT_SF_FLOOR or x <= 0.0:
        return math.log(sf) if sf > 0.0 else -math.inf
    const = special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * math.log(df * math.pi)

    def log_pdf(u: float) -> float:
        return float(const - (df + 1) / 2 * math.log1p(u * u / df))

    return _log_tail_integral(log_pdf, x, hazard=(df + 1) * x / (df + x * x))


def chi2_log_sf(x: float, df: float) -> float:
    """log P(X > x) for a chi-square X with df > 0 degrees of freedom."""
    sf = float(special.chdtrc(df, x))
    if sf > _DIRECT_SF_FLOOR or x <= df:
        return math.log(sf) if sf > 0.0 else -math.inf
    half, u = df / 2, x / 2
    if u > 4 * (half + 10):
        return _gamma_log_sf_series(half, u)
    log_norm = half * math.log(2) + float(special.gammaln(half))

    def log_pdf(v: float) -> float:
        return (half - 1) * math.log(v) - v / 2 - log_norm

    return _log_tail_integral(log_pdf, x, hazard=0.5 - (half - 1) / x)


def _gamma_log_sf_series(s: float, u: float) -> float:
    """log Q(s, u), the regularised upper incomplete gamma, by its asymptotic series (u >> s).

    Q(s, u) = u^(s-1) e^(-u) / Gamma(s) * sum_k (s-1)(s-2)...(s-k) / u^k; with u > 4 (s + 10)
    the terms shrink by a factor of at least 4 each, so 40 terms leave < 1e-20 behind.
    """
    total, term = 1.0, 1.0
    for k in range(1, 40):
        term *= (s - k) / u
        total += term
        if abs(term) < 1e-17 * abs(total):
            break
    return (s - 1) * math.log(u) - u - float(special.gammaln(s)) + math.log(total)


def two_sided_log_p(statistic: float, df: float) -> float:
    """log of the two-sided p-value 2 P(T > |statistic|), capped at log 1 = 0."""
    return min(0.0, math.log(2.0) + t_log_sf(abs(statistic), df))


def _log_tail_integral(log_pdf: Callable[[float], float], x: float, hazard: float) -> float:
    """log of the integral of exp(log_pdf) over [x, inf), computed relative to the density at x.

    Writing the tail as pdf(x) * integral of exp(log_pdf(x + u/h) - log_pdf(x)) du / h, with h the
    hazard rate at x, keeps the integrand near exp(-u): well scaled for quadrature however far
    out x is, where the plain survival function has underflowed to 0.
    """
    h = max(hazard, 1e-12)
    base = log_pdf(x)

    def integrand(u: float) -> float:
        return math.exp(log_pdf(x + u / h) - base)

    value, _ = integrate.quad(integrand, 0.0, math.inf, limit=200)
    return base + math.log(value / h)
