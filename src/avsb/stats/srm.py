"""Sample ratio mismatch: are units split across arms as configured?

Two tests. `srm_test` is Pearson's chi-square goodness of fit against the configured weights,
for a fixed look. `sequential_srm_test` is the Dirichlet–multinomial Bayes factor of Lindon &
Malek (2022), "Anytime-valid inference for multinomial count data", a test martingale under the
null, so 1 / BF is a p-value that stays valid however often the counts are checked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from avsb.stats import _dist
from avsb.stats.errors import require

DEFAULT_SRM_THRESHOLD = 0.001
# Prior concentration of the Dirichlet around the configured split (as in Optimizely's ssrm).
DEFAULT_CONCENTRATION = 10_000.0
# Beyond this ratio of weights an arm expects less than 1e-12 of the traffic: no real split.
MAX_WEIGHT_RATIO = 1e12


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Chi-square statistic, its df (arms - 1), p-value in (0, 1] and the verdict p < threshold."""

    chi2: float
    df: int
    p_value: float
    log_p_value: float
    srm_detected: bool
    expected: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SequentialSrmResult:
    """log Bayes factor of 'some other split' vs the configured split; p = min(1, 1 / BF)."""

    log_bayes_factor: float
    p_value: float
    srm_detected: bool


def _probabilities(observed: Sequence[float], weights: Sequence[float] | None) -> list[float]:
    require(len(observed) >= 2, "observed", "need at least 2 arms")
    require(all(c >= 0 for c in observed), "observed", "counts must be >= 0")
    if weights is None:
        return [1.0 / len(observed)] * len(observed)
    require(len(weights) == len(observed), "weights", "need one weight per observed count")
    require(all(math.isfinite(w) and w > 0 for w in weights), "weights", "must all be > 0")
    # Scaled by the largest weight first, so weights near the double range still add up.
    largest = max(weights)
    require(
        min(weights) >= largest / MAX_WEIGHT_RATIO,
        "weights",
        f"the largest is over {MAX_WEIGHT_RATIO:.0e} times the smallest: no split is that uneven",
    )
    total = math.fsum(w / largest for w in weights)
    probabilities = [w / largest / total for w in weights]
    return probabilities


def srm_test(
    observed: Sequence[float],
    weights: Sequence[float] | None = None,
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SrmResult:
    """Pearson chi-square test of observed arm counts vs configured weights (default: equal)."""
    require(0 < threshold < 1, "threshold", "must be in (0, 1)")
    probabilities = _probabilities(observed, weights)
    total = math.fsum(observed)
    require(total > 0, "observed", "no units observed")
    expected = [total * p for p in probabilities]
    chi2 = math.fsum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    df = len(observed) - 1
    log_p = _dist.chi2_log_sf(chi2, df)
    p_value = _dist.p_from_log(log_p)
    return SrmResult(
        chi2=chi2,
        df=df,
        p_value=p_value,
        log_p_value=min(log_p, 0.0),
        srm_detected=p_value < threshold,
        expected=tuple(expected),
    )


def srm_log_bayes_factor(
    observed: Sequence[float],
    weights: Sequence[float] | None = None,
    concentration: float = DEFAULT_CONCENTRATION,
) -> float:
    """log BF of a Dirichlet(concentration * p0) mixture vs the null split p0, from counts."""
    require(concentration > 0, "concentration", "must be > 0")
    p0 = np.asarray(_probabilities(observed, weights))
    counts = np.asarray(observed, dtype=np.float64)
    prior = concentration * p0
    mixture = (
        special.gammaln(prior.sum())
        - special.gammaln(prior.sum() + counts.sum())
        + np.sum(special.gammaln(prior + counts) - special.gammaln(prior))
    )
    null = np.sum(special.xlogy(counts, p0))
    return float(mixture - null)


def sequential_srm_test(
    observed: Sequence[float],
    weights: Sequence[float] | None = None,
    threshold: float = DEFAULT_SRM_THRESHOLD,
    concentration: float = DEFAULT_CONCENTRATION,
) -> SequentialSrmResult:
    """Anytime-valid SRM test at the current counts: p = min(1, 1 / BF) in (0, 1]."""
    require(0 < threshold < 1, "threshold", "must be in (0, 1)")
    log_bf = srm_log_bayes_factor(observed, weights, concentration)
    p_value = _dist.p_from_log(-log_bf)
    return SequentialSrmResult(log_bf, p_value, p_value < threshold)


def sequential_srm_p_values(
    history: Sequence[Sequence[float]],
    weights: Sequence[float] | None = None,
    concentration: float = DEFAULT_CONCENTRATION,
) -> tuple[float, ...]:
    """Running-minimum anytime-valid p-values over cumulative counts, one per look."""
    running = 1.0
    values = []
    for counts in history:
        log_bf = srm_log_bayes_factor(counts, weights, concentration)
        running = min(running, _dist.p_from_log(-log_bf))
        values.append(running)
    return tuple(values)


__all__ = [
    "DEFAULT_CONCENTRATION",
    "DEFAULT_SRM_THRESHOLD",
    "SequentialSrmResult",
    "SrmResult",
    "sequential_srm_p_values",
    "sequential_srm_test",
    "srm_log_bayes_factor",
    "srm_test",
]
