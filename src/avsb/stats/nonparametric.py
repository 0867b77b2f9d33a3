"""The Mann-Whitney U (Wilcoxon rank-sum) test of a variant against the control.

Pool both arms and rank the per-unit values, ties taking their average rank. With R_t the
treatment's rank sum, U_t = R_t - n_t (n_t + 1) / 2 counts the (treatment, control) pairs in
which the treatment unit is larger (ties count 1/2), so U_t / (n_t n_c) estimates
P(T > C) + P(T = C) / 2, the probability of superiority. Under H0 (same distribution)
E[U] = n_t n_c / 2 and, with tie groups of sizes t_k among N = n_t + n_c units,

    Var[U] = n_t n_c / 12 * ((N + 1) - sum_k (t_k^3 - t_k) / (N (N - 1)))

(Lehmann 1975, Nonparametrics, ch. 1, eq. 1.46). The asymptotic test uses z = (U - E[U] -/+ 1/2)
/ sd with the continuity correction; small samples without ties use the exact null
distribution of U, from the recursion P_{m,n}(u) = m/(m+n) P_{m-1,n}(u-n) + n/(m+n)
P_{m,n-1}(u) (Mann & Whitney 1947). These are the conventions of scipy.stats.mannwhitneyu.

Only the rank sum, the two arm sizes and the tie term are needed, which is why the results SQL
computes them with window functions in the event store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from avsb.stats import _dist
from avsb.stats.errors import require
from avsb.stats.frequentist import TestConfig

Values = Sequence[float] | npt.NDArray[np.float64]
RankMethod = Literal["auto", "exact", "asymptotic"]
EXACT_AUTO_LIMIT = 8  # 'auto' is exact when an arm has at most this many units and no ties
EXACT_MAX_PAIRS = 10_000  # the exact distribution is computed only up to n_t n_c pairs


@dataclass(frozen=True, slots=True)
class RankSums:
    """What the test needs: arm sizes, the treatment's rank sum and sum_k (t_k^3 - t_k)."""

    n_control: int
    n_treatment: int
    rank_sum_treatment: float
    tie_term: float = 0.0

    def __post_init__(self) -> None:
        require(self.n_control >= 1, "n_control", "need at least 1 control unit")
        require(self.n_treatment >= 1, "n_treatment", "need at least 1 treatment unit")
        n = self.n_control + self.n_treatment
        require(self.tie_term >= 0, "tie_term", "must be >= 0")
        require(
            self.tie_term < n**3 - n or n < 2,
            "values",
            "every value is the same: the ranks carry no information",
        )

    @property
    def u_statistic(self) -> float:
        """U_t = R_t - n_t (n_t + 1) / 2, in [0, n_t n_c]."""
        return self.rank_sum_treatment - self.n_treatment * (self.n_treatment + 1) / 2


@dataclass(frozen=True, slots=True)
class RankTestResult:
    """U of the treatment, its z, the p-value, P(T > C) + P(T = C) / 2 and the method used."""

    u_statistic: float
    z: float | None
    p_value: float
    probability_of_superiority: float
    significant: bool
    method: Literal["exact", "asymptotic"]
    test: str = "mann_whitney"


def rank_sums(control: Values, treatment: Values) -> RankSums:
    """The RankSums of two arms of finite per-unit values (average ranks for ties)."""
    c = np.asarray(control, dtype=np.float64)
    t = np.asarray(treatment, dtype=np.float64)
    require(c.ndim == 1 and c.size >= 1, "control", "need at least 1 value")
    require(t.ndim == 1 and t.size >= 1, "treatment", "need at least 1 value")
    pooled = np.concatenate([t, c])
    require(bool(np.all(np.isfinite(pooled))), "values", "values must be finite")
    # Average ranks with numpy alone (importing scipy.stats would add ~0.7 s to every server
    # start): the values tied at a distinct value of sorted position p..q (1-based) share the
    # rank (p + q) / 2 = q - (count - 1) / 2.
    _, group, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    shared = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = shared[group]
    ties = float(np.sum(counts.astype(np.float64) ** 3 - counts))
    return RankSums(int(c.size), int(t.size), float(ranks[: t.size].sum()), ties)


def _alternative(config: TestConfig) -> Literal["two-sided", "greater", "less"]:
    if config.two_sided:
        return "two-sided"
    return "less" if config.lower_is_better else "greater"


def _asymptotic_p(sums: RankSums, alternative: str) -> tuple[float, float]:
    """(z, p) of the normal approximation with tie and continuity corrections."""
    n_c, n_t = sums.n_control, sums.n_treatment
    n = n_c + n_t
    mean = n_t * n_c / 2
    variance = n_t * n_c / 12 * ((n + 1) - sums.tie_term / (n * (n - 1)))
    u = sums.u_statistic
    if alternative == "two-sided":
        u = max(u, n_t * n_c - u)
    elif alternative == "less":
        u = n_t * n_c - u
    z = (u - mean - 0.5) / math.sqrt(variance)
    log_p = _dist.normal_log_sf(z) + (math.log(2.0) if alternative == "two-sided" else 0.0)
    return z, min(_dist.p_from_log(log_p), 1.0)


def exact_u_distribution(m: int, n: int) -> npt.NDArray[np.float64]:
    """P(U = u) for u = 0..m n under H0 without ties (arms of m and n units)."""
    require(m >= 1 and n >= 1, "n", "need at least 1 unit per arm")
    # table[j] holds the distribution for (i, j) while i grows row by row.
    rows = [np.ones(1) for _ in range(n + 1)]  # i = 0: U = 0 surely
    for i in range(1, m + 1):
        new = [np.ones(1)]  # j = 0: U = 0 surely
        for j in range(1, n + 1):
            size = i * j + 1
            dist = np.zeros(size)
            left = rows[j]  # (i - 1, j): the largest unit is from the first arm, U += j
            dist[j : j + left.size] += i / (i + j) * left
            down = new[j - 1]  # (i, j - 1): the largest unit is from the second arm
            dist[: down.size] += j / (i + j) * down
            new.append(dist)
        rows = new
    return rows[n]


def _exact_p(sums: RankSums, alternative: str) -> float:
    n_t, n_c = sums.n_treatment, sums.n_control
    dist = exact_u_distribution(n_t, n_c)
    u = round(sums.u_statistic)
    if alternative == "two-sided":
        u = max(u, n_t * n_c - u)
    elif alternative == "less":
        u = n_t * n_c - u
    p = float(dist[u:].sum())
    if alternative == "two-sided":
        p *= 2
    return min(max(p, 0.0), 1.0)


def mann_whitney_from_sums(
    sums: RankSums, config: TestConfig, method: RankMethod = "asymptotic"
) -> RankTestResult:
    """The test from rank sums; 'exact' needs no ties (tie_term 0) and at most
    EXACT_MAX_PAIRS pairs, 'auto' picks it for small tie-free samples."""
    alternative = _alternative(config)
    pairs = sums.n_control * sums.n_treatment
    no_ties = sums.tie_term == 0
    if method == "exact":
        require(no_ties, "method", "the exact test needs values without ties")
        require(pairs <= EXACT_MAX_PAIRS, "method", f"exact only up to {EXACT_MAX_PAIRS} pairs")
    small = min(sums.n_control, sums.n_treatment) <= EXACT_AUTO_LIMIT
    exact = method == "exact" or (
        method == "auto" and no_ties and small and pairs <= EXACT_MAX_PAIRS
    )
    if exact:
        z, p = None, _exact_p(sums, alternative)
    else:
        require(sums.n_control + sums.n_treatment >= 3, "n", "need at least 3 units in all")
        z, p = _asymptotic_p(sums, alternative)
    return RankTestResult(
        u_statistic=sums.u_statistic,
        z=z,
        p_value=p,
        probability_of_superiority=sums.u_statistic / pairs,
        significant=p <= config.alpha,
        method="exact" if exact else "asymptotic",
    )


def mann_whitney(
    control: Values,
    treatment: Values,
    config: TestConfig,
    method: RankMethod = "auto",
) -> RankTestResult:
    """Mann-Whitney U test of the treatment's values against the control's."""
    return mann_whitney_from_sums(rank_sums(control, treatment), config, method)


__all__ = [
    "EXACT_AUTO_LIMIT",
    "EXACT_MAX_PAIRS",
    "RankMethod",
    "RankSums",
    "RankTestResult",
    "exact_u_distribution",
    "mann_whitney",
    "mann_whitney_from_sums",
    "rank_sums",
]
