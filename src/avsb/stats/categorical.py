"""Categorical outcomes (e.g. plan chosen: free / pro / team): chi-square test and its planning.

The test is Pearson's chi-square test of independence on the arms x categories table. For
planning, Cohen's effect size w^2 = sum over cells (P - E)^2 / E compares the expected cell
shares P (arm share x that arm's category distribution) with E, their product of margins;
N units give the test a noncentral chi-square with noncentrality N w^2 and (r - 1)(c - 1) df
(Cohen 1988, ch. 7).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from avsb.stats import _dist
from avsb.stats.errors import require
from avsb.stats.power import PowerConfig


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


def _shares(arms: int, split: Sequence[float] | None) -> np.ndarray:
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


__all__ = [
    "CategoricalPlan",
    "ChiSquareResult",
    "categorical_sample_size",
    "chi_square_contingency",
    "chi_square_power",
    "cohens_w",
]
