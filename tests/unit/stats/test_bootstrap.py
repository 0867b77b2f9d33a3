"""Bootstrap intervals: against scipy.stats.bootstrap, and a seeded coverage simulation."""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats as scipy_stats

from avsb.stats.bootstrap import (
    BootstrapConfig,
    Moments,
    acceleration,
    bootstrap_mean_difference,
    poisson_cdf_thresholds,
    poisson_replicates_result,
)
from avsb.stats.errors import StatsInputError

SIMULATIONS = int(os.environ.get("AVSB_SIMULATIONS", "150"))


def _revenue(rng: np.random.Generator, n: int, scale: float = 1.0) -> npt.NDArray[np.float64]:
    """Heavy-tailed revenue: 80% zeros, lognormal spend otherwise."""
    return np.where(rng.random(n) < 0.2, rng.lognormal(1.0, 1.2, size=n) * scale, 0.0)


def _diff(
    t: npt.NDArray[np.float64], c: npt.NDArray[np.float64], axis: int = -1
) -> npt.NDArray[np.float64]:
    return np.asarray(np.mean(t, axis=axis) - np.mean(c, axis=axis))


class TestAgainstScipy:
    @pytest.mark.parametrize("method", ["percentile", "bca"])
    def test_interval__matches_scipy_within_monte_carlo_error(self, method: str) -> None:
        rng = np.random.default_rng(2)
        control, treatment = _revenue(rng, 800), _revenue(rng, 800, 1.2)
        config = BootstrapConfig(resamples=20_000, method=method, seed=1)  # type: ignore[arg-type]
        ours = bootstrap_mean_difference(control, treatment, config)
        theirs = scipy_stats.bootstrap(
            (treatment, control), _diff, n_resamples=20_000, method=method.replace("bca", "BCa"),
            rng=np.random.default_rng(3),
        )  # fmt: skip
        se = theirs.standard_error
        assert ours.standard_error == pytest.approx(se, rel=0.06)
        assert ours.ci[0] == pytest.approx(theirs.confidence_interval.low, abs=0.1 * se)
        assert ours.ci[1] == pytest.approx(theirs.confidence_interval.high, abs=0.1 * se)

    def test_acceleration__equals_jackknife_of_scipy_formula(self) -> None:
        rng = np.random.default_rng(4)
        c, t = _revenue(rng, 50), _revenue(rng, 40)
        # the jackknife influence of t - c, leave-one-out: the control's enters negated
        u = []
        for sign, x in ((1.0, t), (-1.0, c)):
            loo = sign * np.array([np.delete(x, i).mean() for i in range(x.size)])
            u.append(((x.size - 1) * (loo.mean() - loo), x.size))
        num = sum(np.sum(v**3) / n**3 for v, n in u)
        den = sum(np.sum(v**2) / n**2 for v, n in u)
        expected = num / (6 * den**1.5)
        assert acceleration(Moments.of(c), Moments.of(t), "absolute") == pytest.approx(expected)

    def test_moments_from_sums__equal_direct(self) -> None:
        x = np.random.default_rng(1).lognormal(size=200)
        direct = Moments.of(x)
        summed = Moments.from_sums(200, float(x.sum()), float((x**2).sum()), float((x**3).sum()))
        assert summed.m2 == pytest.approx(direct.m2, rel=1e-9)
        assert summed.m3 == pytest.approx(direct.m3, rel=1e-6)

    def test_seeded__same_seed_same_answer(self) -> None:
        rng = np.random.default_rng(2)
        c, t = _revenue(rng, 300), _revenue(rng, 300)
        config = BootstrapConfig(resamples=500, seed=42)
        assert bootstrap_mean_difference(c, t, config) == bootstrap_mean_difference(c, t, config)

    def test_bad_input__raises(self) -> None:
        with pytest.raises(StatsInputError):
            bootstrap_mean_difference([1.0], [1.0, 2.0], BootstrapConfig())
        with pytest.raises(StatsInputError):
            BootstrapConfig(resamples=10)


class TestPoissonReplicates:
    def test_poisson_weights__reproduce_resampled_interval(self) -> None:
        rng = np.random.default_rng(8)
        c, t = _revenue(rng, 2000), _revenue(rng, 2000, 1.3)
        thresholds = np.asarray(poisson_cdf_thresholds())
        reps: list[npt.NDArray[np.float64]] = []
        for x in (c, t):
            w = np.searchsorted(thresholds, rng.random((1000, x.size)), side="right")
            reps += [w.sum(axis=1).astype(np.float64), (w * x).sum(axis=1)]
        config = BootstrapConfig(resamples=1000, method="percentile")
        replicates = (reps[0], reps[1], reps[2], reps[3])
        ours = poisson_replicates_result(Moments.of(c), Moments.of(t), replicates, config)
        theirs = scipy_stats.bootstrap(
            (t, c), _diff, n_resamples=2000, method="percentile", rng=np.random.default_rng(1)
        )
        se = theirs.standard_error
        assert ours.standard_error == pytest.approx(se, rel=0.1)
        assert ours.ci[0] == pytest.approx(theirs.confidence_interval.low, abs=0.15 * se)

    def test_thresholds__poisson_cdf(self) -> None:
        assert poisson_cdf_thresholds(4) == pytest.approx(scipy_stats.poisson.cdf(range(4), 1.0))


def _coverage(simulations: int, n: int, method: str, seed: int) -> float:
    rng = np.random.default_rng(seed)
    truth = 0.2 * np.exp(1.0 + 1.2**2 / 2) * 0.5  # mean difference of the two revenue laws
    hits = 0
    for i in range(simulations):
        c, t = _revenue(rng, n), _revenue(rng, n, 1.5)
        config = BootstrapConfig(resamples=400, method=method, seed=i)  # type: ignore[arg-type]
        low, high = bootstrap_mean_difference(c, t, config).ci
        hits += low <= truth <= high
    return hits / simulations


class TestCoverage:
    def test_bca_coverage__near_nominal(self) -> None:
        assert 0.85 <= _coverage(SIMULATIONS, 400, "bca", seed=3) <= 0.99

    @pytest.mark.slow
    def test_coverage__large_simulation(self) -> None:
        # Heavy tails at n = 1000: both intervals fall a little short of 95%; scipy's BCa
        # covers 0.90 on the same design (checked when this was written), as ours does.
        simulations = max(SIMULATIONS, 2000)
        assert 0.92 <= _coverage(simulations, 1000, "percentile", seed=5) <= 0.965
        assert 0.90 <= _coverage(simulations, 1000, "bca", seed=5) <= 0.965


def test_bootstrap__replicates_beyond_float_range_are_refused_not_a_warning() -> None:
    # found by schemathesis: a control mean near 1e-204 makes relative replicates near 1e300,
    # whose squares overflowed inside np.std (a RuntimeWarning, a 500 under -W error)
    control = [-887998101169489.8, -611119273327193.6, -6.6e-204, 999999999999999.0, 1.3e-135]
    treatment = [1.4e-232, 945697806349009.0, 56941562188927.375, -628729022666763.8,
                 -1.5e-204, 752976217764890.5, -651557892271194.1, 0.3333333333333333]  # fmt: skip
    config = BootstrapConfig(alpha=5.96e-08, method="bca", difference_type="relative",
                             seed=23489199905)  # fmt: skip
    with pytest.raises(StatsInputError, match="overflows"):
        bootstrap_mean_difference(control, treatment, config)
