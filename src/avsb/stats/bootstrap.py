"""Bootstrap intervals for the difference (or relative lift) of two arms' means.

For heavy-tailed per-unit values (revenue) the normal interval of the mean difference can
miss unevenly; the bootstrap reads the interval off the resampled distribution instead
(Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13-14).

- Resampling: the tools draw each arm with replacement (multinomial, seeded numpy
  Generator). The results use the Poisson bootstrap (each unit weighted by an independent
  Poisson(1) count per replicate, Hanley & MacGibbon 2006; Chamandy et al. 2012, "Estimating
  Uncertainty for Massive Data Streams"), which the event store computes in SQL from hashed
  weights, so only the replicates' weighted sums reach Python.
- Percentile interval: the alpha/2 and 1 - alpha/2 quantiles of the replicates.
- BCa (Efron 1987): the percentiles moved by the bias correction
  z0 = Phi^-1(#{theta*_b < theta} / B + #{theta*_b = theta} / (2B)) and the acceleration
  a = sum_j sum_i U_ji^3 / n_j^3 / (6 (sum_j sum_i U_ji^2 / n_j^2)^(3/2)) over both arms j, with
  U_ji the jackknife influence of unit i (Efron & Tibshirani 1993, eq. 14.15, one term per
  independent sample). For a difference of means U_ji = +/-(x_ji - mean_j); for the relative
  lift the delta-method gradient scales it, so the acceleration needs only each arm's second
  and third central moments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from avsb.stats import _dist
from avsb.stats.errors import StatsInputError, require
from avsb.stats.frequentist import DifferenceType

IntervalMethod = Literal["percentile", "bca"]
Vector = npt.NDArray[np.float64]
MAX_DRAWS = 200_000_000  # resamples x units drawn by one tool call, at most
_BATCH_DRAWS = 4_000_000  # draws per batch, to bound memory


@dataclass(frozen=True, slots=True)
class Moments:
    """One arm's n, mean and central sums sum (x - mean)^2 and sum (x - mean)^3."""

    n: int
    mean: float
    m2: float
    m3: float

    @classmethod
    def from_sums(cls, n: int, s1: float, s2: float, s3: float) -> Moments:
        """From raw sums of x, x^2 and x^3 (as SQL aggregates them)."""
        require(n >= 2, "n", f"need at least 2 units per arm, got {n}")
        mean = s1 / n
        m2 = max(s2 - s1 * mean, 0.0)
        m3 = s3 - 3 * mean * s2 + 2 * n * mean**3
        return cls(n, mean, m2, m3)

    @classmethod
    def of(cls, values: Vector) -> Moments:
        centred = values - values.mean()
        return cls(
            int(values.size),
            float(values.mean()),
            float(centred @ centred),
            float(np.sum(centred**3)),
        )


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """The observed effect, the interval, the replicates' SD and how it was made."""

    estimate: float
    ci: tuple[float, float]
    standard_error: float
    method: IntervalMethod
    resamples: int
    difference_type: DifferenceType
    acceleration: float | None
    bias_correction: float | None


def effect(control_mean: float, treatment_mean: float, difference_type: DifferenceType) -> float:
    """t - c, or t / c - 1 for the relative lift (c must not be 0)."""
    if difference_type == "absolute":
        return treatment_mean - control_mean
    require(
        control_mean != 0, "control.mean", "relative lift is undefined when the control mean is 0"
    )
    return treatment_mean / control_mean - 1.0


def acceleration(control: Moments, treatment: Moments, difference_type: DifferenceType) -> float:
    """The BCa acceleration of the effect from each arm's jackknife influence (0 if no spread)."""
    try:
        if difference_type == "absolute":
            gradients = (-1.0, 1.0)
        else:
            gradients = (-treatment.mean / control.mean**2, 1.0 / control.mean)
        num = den = 0.0
        for g, arm in zip(gradients, (control, treatment), strict=True):
            num += g**3 * arm.m3 / arm.n**3
            den += g**2 * arm.m2 / arm.n**2
        accel = 0.0 if den <= 0 else num / (6.0 * den**1.5)
    except (ZeroDivisionError, OverflowError):  # a control mean within ~1e-154 of 0
        raise StatsInputError("values", "the effect overflows: values too large") from None
    require(math.isfinite(accel), "values", "the effect overflows: values too large")
    return accel


def interval_from_replicates(
    estimate: float,
    replicates: npt.NDArray[np.floating[Any]],
    alpha: float,
    accel: float | None = None,
) -> tuple[tuple[float, float], float | None]:
    """The (lower, upper) interval at level 1 - alpha from replicates: percentile when accel
    is None, else BCa with that acceleration. Returns the interval and the bias correction z0."""
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    require(reps.size >= 10, "resamples", "need at least 10 finite bootstrap replicates")
    require(0.0 < alpha < 1.0, "alpha", "must be in (0, 1)")
    low_q, high_q = alpha / 2, 1.0 - alpha / 2
    z0: float | None = None
    if accel is not None:
        share = (np.sum(reps < estimate) + 0.5 * np.sum(reps == estimate)) / reps.size
        share = min(max(float(share), 0.5 / reps.size), 1.0 - 0.5 / reps.size)
        z0 = _dist.normal_ppf(share)
        low_q, high_q = (_bca_level(z0, accel, _dist.normal_ppf(q)) for q in (low_q, high_q))
    low, high = np.quantile(reps, [low_q, high_q])
    return (float(low), float(high)), z0


def _bca_level(z0: float, accel: float, z: float) -> float:
    shifted = z0 + z
    return _dist.normal_cdf(z0 + shifted / (1.0 - accel * shifted))


def _resampled_means(values: Vector, resamples: int, rng: np.random.Generator) -> Vector:
    """Means of `resamples` multinomial resamples of values, drawn in bounded batches."""
    n = values.size
    out = np.empty(resamples)
    per_batch = max(1, _BATCH_DRAWS // n)
    for start in range(0, resamples, per_batch):
        stop = min(resamples, start + per_batch)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


@dataclass(frozen=True, slots=True)
class BootstrapConfig:
    """Resamples (>= 100), level alpha, interval method, effect scale and the RNG seed."""

    resamples: int = 2000
    alpha: float = 0.05
    method: IntervalMethod = "bca"
    difference_type: DifferenceType = "absolute"
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.resamples >= 100, "resamples", "need at least 100 resamples")
        require(0.0 < self.alpha < 1.0, "alpha", "must be in (0, 1)")


def bootstrap_mean_difference(
    control: Sequence[float] | Vector, treatment: Sequence[float] | Vector, config: BootstrapConfig
) -> BootstrapResult:
    """Bootstrap interval of the treatment-vs-control mean effect (same seed, same answer)."""
    arms = []
    for name, values in (("control", control), ("treatment", treatment)):
        x = np.asarray(values, dtype=np.float64)
        require(x.ndim == 1 and x.size >= 2, name, "need at least 2 values")
        require(bool(np.all(np.isfinite(x))), name, "values must be finite")
        arms.append(x)
    c, t = arms
    draws = config.resamples * (c.size + t.size)
    require(draws <= MAX_DRAWS, "resamples", f"resamples x units must be <= {MAX_DRAWS}")
    estimate = effect(float(c.mean()), float(t.mean()), config.difference_type)
    rng = np.random.default_rng(config.seed)
    means_c = _resampled_means(c, config.resamples, rng)
    means_t = _resampled_means(t, config.resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        reps = means_t - means_c if config.difference_type == "absolute" else means_t / means_c - 1
    accel = (
        acceleration(Moments.of(c), Moments.of(t), config.difference_type)
        if config.method == "bca"
        else None
    )
    ci, z0 = interval_from_replicates(estimate, reps, config.alpha, accel)
    finite = reps[np.isfinite(reps)]
    with np.errstate(over="ignore"):  # a spread beyond float range is inf: _checked refuses it
        spread = float(np.std(finite, ddof=1))
    result = BootstrapResult(
        estimate, ci, spread, config.method,
        config.resamples, config.difference_type, accel, z0,
    )  # fmt: skip
    return _checked(result)


def _checked(result: BootstrapResult) -> BootstrapResult:
    numbers = (result.estimate, result.standard_error, *result.ci)
    require(all(map(math.isfinite, numbers)), "values", "the effect overflows: values too large")
    return result


def poisson_replicates_result(
    control: Moments,
    treatment: Moments,
    replicates: tuple[Vector, Vector, Vector, Vector],
    config: BootstrapConfig,
) -> BootstrapResult:
    """The interval from Poisson-bootstrap replicates: per replicate the arms' weight totals
    and weighted sums (control W, control WY, treatment W, treatment WY)."""
    w_c, wy_c, w_t, wy_t = (np.asarray(r, dtype=np.float64) for r in replicates)
    estimate = effect(control.mean, treatment.mean, config.difference_type)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean_c, mean_t = wy_c / w_c, wy_t / w_t
        reps = mean_t - mean_c if config.difference_type == "absolute" else mean_t / mean_c - 1
    accel = (
        acceleration(control, treatment, config.difference_type) if config.method == "bca" else None
    )
    ci, z0 = interval_from_replicates(estimate, reps.astype(np.float64), config.alpha, accel)
    finite = reps[np.isfinite(reps)]
    return _checked(BootstrapResult(
        estimate, ci, float(np.std(finite, ddof=1)), config.method, int(finite.size),
        config.difference_type, accel, z0,
    ))  # fmt: skip


def poisson_cdf_thresholds(limit: int = 12) -> tuple[float, ...]:
    """P(K <= k) for K ~ Poisson(1), k = 0..limit - 1: a uniform u maps to the first k with
    u < P(K <= k) (inverse CDF), and to `limit` past them all (probability < 1e-9 for 12)."""
    total, term, out = 0.0, math.exp(-1.0), []
    for k in range(limit):
        if k:
            term /= k
        total += term
        out.append(total)
    return tuple(out)


__all__ = [
    "BootstrapConfig",
    "BootstrapResult",
    "IntervalMethod",
    "Moments",
    "acceleration",
    "bootstrap_mean_difference",
    "effect",
    "interval_from_replicates",
    "poisson_cdf_thresholds",
    "poisson_replicates_result",
]
