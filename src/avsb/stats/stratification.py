"""Post-stratification: per-stratum estimates recombined with weights from pooled stratum sizes.

Miratrix, Sekhon & Yu (2013), "Adjusting treatment effect estimates by post-stratification in
randomized experiments". With w_s = (units of stratum s, all arms) / (all units), each arm's
estimate is sum_s w_s mean_{s,a} with variance sum_s w_s^2 var(mean_{s,a}); the absolute effect
is then exactly sum_s w_s (per-stratum effect), and the relative effect is the ratio of the
post-stratified arm means (a ratio of weighted sums is steadier than a weighted sum of ratios
when a stratum is small).
"""

from __future__ import annotations

from collections.abc import Sequence

from avsb.stats.errors import StatsInputError, require
from avsb.stats.statistics import ArmEstimate, satterthwaite_df


def stratum_weights(cells: Sequence[Sequence[ArmEstimate]]) -> tuple[float, ...]:
    """w_s in [0, 1], summing to 1: each stratum's share of all units (all arms pooled)."""
    sizes = [sum(arm.n for arm in stratum) for stratum in cells]
    total = sum(sizes)
    require(total > 0, "strata", "no units in any stratum")
    return tuple(size / total for size in sizes)


def poststratify(cells: Sequence[Sequence[ArmEstimate]]) -> tuple[ArmEstimate, ...]:
    """One post-stratified estimate per arm from cells[stratum][arm] (all strata, all arms)."""
    require(len(cells) >= 1, "strata", "need at least one stratum")
    arms = len(cells[0])
    for index, stratum in enumerate(cells):
        if len(stratum) != arms:
            raise StatsInputError(
                f"strata.{index}.arms", f"has {len(stratum)} arms, the first stratum has {arms}"
            )
    weights = stratum_weights(cells)
    combined = []
    for arm in range(arms):
        column = [(w, stratum[arm]) for w, stratum in zip(weights, cells, strict=True)]
        terms = [(w * w * cell.variance, cell.df) for w, cell in column]
        combined.append(
            ArmEstimate(
                mean=sum(w * cell.mean for w, cell in column),
                variance=sum(v for v, _ in terms),
                df=satterthwaite_df(terms),
                n=sum(cell.n for _, cell in column),
            )
        )
    return tuple(combined)


__all__ = ["poststratify", "stratum_weights"]
