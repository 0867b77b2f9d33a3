"""Multiple testing: Bonferroni, Holm and Benjamini–Hochberg, with intervals that match.

The family is stated explicitly: by default every primary metric times every non-control
variant (`family_size`). Adjusted p-values follow the usual step-down (Holm 1979) and step-up
(Benjamini & Hochberg 1995) definitions, so `reject` is "adjusted p <= alpha".

Intervals: Bonferroni gives each interval level 1 - alpha / m (simultaneous coverage 1 - alpha).
Holm has no simple compatible interval; we give the Bonferroni one, which is simultaneous and
never narrower than needed, but may still cover 0 for a hypothesis Holm rejects. BH controls the
false discovery rate, so we give the false-coverage-rate intervals of Benjamini & Yekutieli
(2005) at level 1 - R alpha / m, R = number of BH rejections (at least 1): each rejected
hypothesis's interval then excludes 0, and the expected share of non-covering intervals among
the selected ones is at most alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from avsb.stats.errors import require

CorrectionMethod = Literal["none", "bonferroni", "holm", "bh"]


@dataclass(frozen=True, slots=True)
class MultipleTestingResult:
    """Adjusted p-values in [0, 1], rejections, family size m and the per-interval alpha."""

    method: CorrectionMethod
    alpha: float
    family_size: int
    adjusted_p_values: tuple[float, ...]
    reject: tuple[bool, ...]
    interval_alpha: float


def family_size(primary_metrics: int, treatment_variants: int) -> int:
    """The default family: primary metrics x non-control variants, >= 1."""
    require(primary_metrics >= 1, "primary_metrics", "must be >= 1")
    require(treatment_variants >= 1, "treatment_variants", "must be >= 1")
    return primary_metrics * treatment_variants


def adjust_p_values(p_values: Sequence[float], method: CorrectionMethod) -> tuple[float, ...]:
    """Adjusted p-values in [0, 1], in input order (Bonferroni, Holm step-down, BH step-up)."""
    require(len(p_values) >= 1, "p_values", "need at least one p-value")
    require(
        all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in p_values),
        "p_values",
        "every p-value must be in [0, 1]",
    )
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if method == "none":
        adjusted = p
    elif method == "bonferroni":
        adjusted = np.minimum(p * m, 1.0)
    elif method == "holm":
        order = np.argsort(p, kind="stable")
        stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
    elif method == "bh":
        order = np.argsort(p, kind="stable")
        scaled = p[order] * m / np.arange(1, m + 1)
        stepped = np.minimum.accumulate(scaled[::-1])[::-1]
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
    else:
        raise ValueError(f"unknown correction method {method!r}")
    return tuple(float(value) for value in adjusted)


def interval_alpha(method: CorrectionMethod, alpha: float, m: int, rejections: int) -> float:
    """The alpha each interval uses so the intervals match the correction (see module doc)."""
    require(0 < alpha < 1, "alpha", "must be in (0, 1)")
    require(m >= 1, "family_size", "must be >= 1")
    if method == "none":
        return alpha
    if method == "bh":
        return alpha * max(rejections, 1) / m
    return alpha / m


def correct(
    p_values: Sequence[float], method: CorrectionMethod, alpha: float = 0.05
) -> MultipleTestingResult:
    """Adjust a family of p-values (the family is exactly `p_values`) and decide at level alpha."""
    require(0 < alpha < 1, "alpha", "must be in (0, 1)")
    adjusted = adjust_p_values(p_values, method)
    reject = tuple(value <= alpha for value in adjusted)
    m = len(adjusted)
    return MultipleTestingResult(
        method=method,
        alpha=alpha,
        family_size=m,
        adjusted_p_values=adjusted,
        reject=reject,
        interval_alpha=interval_alpha(method, alpha, m, sum(reject)),
    )


__all__ = [
    "CorrectionMethod",
    "MultipleTestingResult",
    "adjust_p_values",
    "correct",
    "family_size",
    "interval_alpha",
]
