"""Thompson-sampling bandit simulation over Bernoulli arms with Beta posteriors.

Each step sends a batch of units: every unit draws one sample from each arm's Beta posterior
and goes to the arm with the largest draw (Thompson 1933; Chapelle & Li 2011); the batch's
conversions then update the posteriors. Regret is expected regret, sum over units of
(best rate - rate of the arm served), so it does not depend on the conversion draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avsb.stats.errors import require


@dataclass(frozen=True, slots=True)
class BanditConfig:
    """Steps (>= 1), units per step (>= 1) and the Beta(prior_alpha, prior_beta) prior."""

    steps: int = 100
    batch_size: int = 100
    prior_alpha: float = 1.0
    prior_beta: float = 1.0

    def __post_init__(self) -> None:
        require(self.steps >= 1, "steps", "must be >= 1")
        require(self.batch_size >= 1, "batch_size", "must be >= 1")
        require(self.prior_alpha > 0, "prior_alpha", "must be > 0")
        require(self.prior_beta > 0, "prior_beta", "must be > 0")


@dataclass(frozen=True, slots=True)
class BanditSimulation:
    """Per step: each arm's share of that step's units and the cumulative regret; final totals."""

    allocation: tuple[tuple[float, ...], ...]
    cumulative_regret: tuple[float, ...]
    pulls: tuple[int, ...]
    successes: tuple[int, ...]
    posterior_means: tuple[float, ...]
    best_arm: int


def simulate_thompson(
    true_rates: Sequence[float], config: BanditConfig, rng: np.random.Generator
) -> BanditSimulation:
    """Simulate Thompson sampling on arms with these conversion rates in [0, 1]; uses `rng`."""
    rates = np.asarray(true_rates, dtype=np.float64)
    require(2 <= len(rates) <= 10, "true_rates", "need 2..10 arms")
    require(bool(np.all((rates >= 0) & (rates <= 1))), "true_rates", "rates must be in [0, 1]")
    arms = len(rates)
    wins = np.zeros(arms)
    losses = np.zeros(arms)
    gaps = rates.max() - rates
    allocation: list[tuple[float, ...]] = []
    regret: list[float] = []
    total_regret = 0.0
    for _ in range(config.steps):
        draws = rng.beta(
            config.prior_alpha + wins, config.prior_beta + losses, size=(config.batch_size, arms)
        )
        counts = np.bincount(_argmax_random_ties(draws, rng), minlength=arms)
        converted = rng.binomial(counts, rates)
        wins += converted
        losses += counts - converted
        total_regret += float(counts @ gaps)
        allocation.append(tuple(float(c) / config.batch_size for c in counts))
        regret.append(total_regret)
    pulls = wins + losses
    means = (config.prior_alpha + wins) / (config.prior_alpha + config.prior_beta + pulls)
    return BanditSimulation(
        allocation=tuple(allocation),
        cumulative_regret=tuple(regret),
        pulls=tuple(int(p) for p in pulls),
        successes=tuple(int(w) for w in wins),
        posterior_means=tuple(float(m) for m in means),
        best_arm=int(np.argmax(rates)),
    )


def _argmax_random_ties(draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row's largest column, ties broken uniformly at random (seeded by `rng`).

    Plain argmax takes the first of equal draws, which sends every tie to the lowest arm (and
    draws do tie: a posterior piled up at 0 or 1 returns exactly 0.0 or 1.0).
    """
    top = draws == draws.max(axis=1, keepdims=True)
    keys = np.where(top, rng.random(draws.shape), -1.0)
    return np.asarray(np.argmax(keys, axis=1))


def uniform_regret(true_rates: Sequence[float], units: int) -> float:
    """Expected regret of an even split over `units` units, for comparison (>= 0)."""
    rates = [float(r) for r in true_rates]
    require(units >= 0 and len(rates) >= 1, "true_rates", "need arms and units >= 0")
    best = max(rates)
    return units * math.fsum(best - r for r in rates) / len(rates)


__all__ = ["BanditConfig", "BanditSimulation", "simulate_thompson", "uniform_regret"]
