"""Categorical outcomes (e.g. plan chosen: free / pro / team): chi-square test and its planning.

The test is Pearson's chi-square test of independence on the arms x categories table. For
planning, Cohen's effect size w^2 = sum over cells (P - E)^2 / E compares the expected cell
shares P (arm share x that arm's category distribution) with E, their product of margins;
N units give the test a noncentral chi-square with noncentrality N w^2 and (r - 1)(c - 1) df
(Cohen 1988, ch. 7).

A categorical metric's readout (``categorical_analysis``) adds, per variant against the
control, each category's share difference with Newcombe's hybrid score interval (Newcombe
1998, method 10) and the pooled two-proportion z-test (the 2 x 2 chi-square of that category
against the rest), and the relative lift of the share with the log risk-ratio interval
(Katz et al. 1978). Those per-category tests are descriptive: the chi-square over the whole
table is the one test of "the variant changes the distribution".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from avsb.stats import _dist
from avsb.stats.errors import require
from avsb.stats.exact import newcombe_interval
from avsb.stats.frequentist import TestConfig
from avsb.stats.power import PowerConfig
from avsb.stats.statistics import ProportionStatistic


@dataclass(frozen=True, slots=True)
class ChiSquareResult:
    """Pearson chi-square test of independence: statistic, df, p-value in (0, 1] and its log."""

    chi2: float
    df: int
    p_value: float
    log_p_value: float


@dataclass(frozen=True, slots=True)
class CategoricalPlan:
    """Units per arm and in total for the chi-square test, with Cohen's w and the test's df."""

    sample_size_per_variant: tuple[int, ...]
    total_sample_size: int
    effect_size_w: float
    df: int


def chi_square_contingency(table: Sequence[Sequence[float]]) -> ChiSquareResult:
    """Chi-square test of independence of arms (rows) and outcome categories (columns)."""
    counts = np.asarray(table, dtype=np.float64)
    require(counts.ndim == 2 and counts.shape[0] >= 2, "table", "need >= 2 arms (rows)")
    require(counts.shape[1] >= 2, "table", "need >= 2 categories (columns)")
    require(bool(np.all(counts >= 0)), "table", "counts must be >= 0")
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    require(bool(np.all(rows > 0) and np.all(cols > 0)), "table", "a row or column is empty")
    expected = np.outer(rows, cols) / counts.sum()
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    df = (counts.shape[0] - 1) * (counts.shape[1] - 1)
    log_p = _dist.chi2_log_sf(chi2, df)
    return ChiSquareResult(chi2, df, _dist.p_from_log(log_p), min(log_p, 0.0))


def _shares(arms: int, split: Sequence[float] | None) -> npt.NDArray[np.float64]:
    if split is None:
        return np.full(arms, 1.0 / arms)
    require(len(split) == arms, "traffic_split", "need one share per arm")
    require(all(math.isfinite(s) and s > 0 for s in split), "traffic_split", "must be > 0")
    raw = np.asarray(split, dtype=np.float64)
    return np.asarray(raw / raw.sum())


def cohens_w(
    distributions: Sequence[Sequence[float]], split: Sequence[float] | None = None
) -> float:
    """Cohen's w >= 0 for arms' expected category distributions (rows sum to 1) and split."""
    q = np.asarray(distributions, dtype=np.float64)
    require(q.ndim == 2 and q.shape[0] >= 2 and q.shape[1] >= 2, "distributions", "need 2x2+")
    require(bool(np.all(q >= 0)), "distributions", "probabilities must be >= 0")
    require(bool(np.allclose(q.sum(axis=1), 1.0, atol=1e-6)), "distributions", "rows sum to 1")
    f = _shares(q.shape[0], split)
    cells = f[:, None] * q
    margins = cells.sum(axis=0)
    require(bool(np.all(margins > 0)), "distributions", "a category has probability 0 everywhere")
    expected = np.outer(f, margins)
    return math.sqrt(float(np.sum((cells - expected) ** 2 / expected)))


def chi_square_power(noncentrality: float, df: int, alpha: float) -> float:
    """Power in (0, 1) of the level-alpha chi-square test with this df and noncentrality."""
    critical = float(special.chdtri(df, alpha))
    return 1.0 - float(special.chndtr(critical, df, noncentrality))


def categorical_sample_size(
    distributions: Sequence[Sequence[float]],
    split: Sequence[float] | None,
    config: PowerConfig,
) -> CategoricalPlan:
    """Units for the chi-square test to detect these distributions with config.power."""
    w = cohens_w(distributions, split)
    require(w > 0, "distributions", "the arms' distributions are identical: nothing to detect")
    arms, categories = len(distributions), len(distributions[0])
    df = (arms - 1) * (categories - 1)
    upper = 1.0
    while chi_square_power(upper, df, config.alpha) < config.power:
        upper *= 2
    lam = optimize.brentq(
        lambda nc: chi_square_power(nc, df, config.alpha) - config.power, 0.0, upper, xtol=1e-12
    )
    total = float(lam) / w**2
    per_arm = tuple(math.ceil(total * f - 1e-9) for f in _shares(arms, split))
    return CategoricalPlan(per_arm, sum(per_arm), w, df)


@dataclass(frozen=True, slots=True)
class CategoryLift:
    """One category, variant vs control: shares, difference (CI, p-value) and relative lift."""

    category: str
    control_share: float
    variant_share: float
    difference: float
    ci: tuple[float, float]
    p_value: float
    relative_lift: float | None
    relative_ci: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class CategoricalComparison:
    """A variant against the control: the 2-row chi-square and every category's lift."""

    variant_index: int
    chi_square: ChiSquareResult | None
    lifts: tuple[CategoryLift, ...]


@dataclass(frozen=True, slots=True)
class CategoricalAnalysis:
    """Arms (control first) x categories: counts, shares per arm, the omnibus test, lifts."""

    categories: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    shares: tuple[tuple[float, ...], ...]
    chi_square: ChiSquareResult | None
    comparisons: tuple[CategoricalComparison, ...]


def _maybe_chi_square(counts: npt.NDArray[np.int64]) -> ChiSquareResult | None:
    """The chi-square test over the non-empty columns, None when fewer than 2 remain."""
    kept = counts[:, counts.sum(axis=0) > 0]
    if kept.shape[1] < 2 or not np.all(kept.sum(axis=1) > 0):
        return None
    return chi_square_contingency(kept.tolist())


def share_lift(
    category: str, control: tuple[int, int], variant: tuple[int, int], alpha: float
) -> CategoryLift:
    """Lift of one category's share: (count, arm units) of the control and the variant."""
    (x_c, n_c), (x_t, n_t) = control, variant
    p_c, p_t = x_c / n_c, x_t / n_t
    config = TestConfig(alpha=alpha, two_sided=True, difference_type="absolute")
    low, high = newcombe_interval(
        ProportionStatistic(n_c, x_c), ProportionStatistic(n_t, x_t), config
    )
    assert low is not None  # two-sided: both ends closed
    assert high is not None
    pooled = (x_c + x_t) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    p_value = 1.0 if se0 == 0 else min(1.0, 2 * _dist.normal_sf(abs(p_t - p_c) / se0))
    relative: float | None = None
    relative_ci: tuple[float, float] | None = None
    if x_c > 0 and x_t > 0:
        log_rr = math.log(p_t / p_c)
        se = math.sqrt(1 / x_t - 1 / n_t + 1 / x_c - 1 / n_c)
        z = _dist.normal_ppf(1 - alpha / 2)
        relative = p_t / p_c - 1
        relative_ci = (math.exp(log_rr - z * se) - 1, math.exp(log_rr + z * se) - 1)
    return CategoryLift(category, p_c, p_t, p_t - p_c, (low, high), p_value, relative, relative_ci)


def categorical_analysis(
    table: Sequence[Sequence[int]], categories: Sequence[str], alpha: float = 0.05
) -> CategoricalAnalysis:
    """Per-arm distribution, chi-square of independence and per-category lifts of each
    variant against the control (row 0). Every arm needs at least one unit."""
    counts = np.asarray(table, dtype=np.int64)
    require(counts.ndim == 2 and counts.shape[0] >= 2, "table", "need >= 2 arms (rows)")
    require(counts.shape[1] == len(categories) >= 1, "categories", "one name per column")
    require(len(set(categories)) == len(categories), "categories", "names must be unique")
    require(bool(np.all(counts >= 0)), "table", "counts must be >= 0")
    totals = counts.sum(axis=1)
    require(bool(np.all(totals > 0)), "table", "every arm needs at least one unit")
    require(0.0 < alpha < 1.0, "alpha", "must be in (0, 1)")
    shares = counts / totals[:, None]
    comparisons = []
    for arm in range(1, counts.shape[0]):
        lifts = tuple(
            share_lift(
                name,
                (int(counts[0, k]), int(totals[0])),
                (int(counts[arm, k]), int(totals[arm])),
                alpha,
            )
            for k, name in enumerate(categories)
        )
        pair = _maybe_chi_square(counts[[0, arm]])
        comparisons.append(CategoricalComparison(arm, pair, lifts))
    return CategoricalAnalysis(
        categories=tuple(categories),
        counts=tuple(tuple(int(v) for v in row) for row in counts),
        shares=tuple(tuple(float(v) for v in row) for row in shares),
        chi_square=_maybe_chi_square(counts),
        comparisons=tuple(comparisons),
    )


__all__ = [
    "CategoricalAnalysis",
    "CategoricalComparison",
    "CategoricalPlan",
    "CategoryLift",
    "ChiSquareResult",
    "categorical_analysis",
    "categorical_sample_size",
    "chi_square_contingency",
    "chi_square_power",
    "cohens_w",
    "share_lift",
]
