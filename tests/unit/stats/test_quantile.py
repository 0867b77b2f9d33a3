"""Quantile metrics: the order-statistic interval and SE against numpy and a coverage simulation."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats as scipy_stats

from avsb.stats.errors import StatsInputError
from avsb.stats.frequentist import TestConfig
from avsb.stats.quantile import QuantileArm, compare_quantiles, quantile_arm, rank_bounds

SIMULATIONS = int(os.environ.get("AVSB_SIMULATIONS", "300"))


class TestQuantileArm:
    def test_estimate__equals_numpy_quantile(self) -> None:
        rng = np.random.default_rng(1)
        values = rng.lognormal(size=501)
        for p in (0.1, 0.5, 0.9, 0.99):
            assert quantile_arm(values, p).estimate == pytest.approx(np.quantile(values, p))

    def test_bounds__are_order_statistics_at_binomial_ranks(self) -> None:
        values = np.arange(1000, dtype=float)[::-1]  # sorted copy: x_(k) = k - 1
        arm = quantile_arm(values, 0.5)
        low, high = rank_bounds(1000, 0.5)
        half = 1.959963984540054 * math.sqrt(1000 * 0.25)
        assert (low, high) == (math.floor(500 - half), math.ceil(500 + half + 1))
        assert (arm.lower, arm.upper) == (low - 1, high - 1)

    def test_standard_error__close_to_asymptotic_formula(self) -> None:
        # Given normal values, sd of the median = sqrt(p (1 - p) / n) / f(Q) = 1.2533 / sqrt(n)
        values = scipy_stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000)
        arm = quantile_arm(values, 0.5)
        assert arm.standard_error == pytest.approx(math.sqrt(math.pi / 2 / 20_000), rel=0.02)

    def test_ranks__clipped_to_sample(self) -> None:
        assert rank_bounds(3, 0.5) == (1, 3)
        assert rank_bounds(10, 0.01) == (1, 2)

    @pytest.mark.parametrize(
        ("values", "p"), [([1.0], 0.5), ([1.0, 2.0], 1.0), ([1.0, math.nan], 0.5)]
    )
    def test_bad_input__raises(self, values: list[float], p: float) -> None:
        with pytest.raises(StatsInputError):
            quantile_arm(values, p)


class TestCompareQuantiles:
    def test_difference__normal_test_on_order_statistic_se(self) -> None:
        control = QuantileArm(n=1000, estimate=10.0, lower=9.0, upper=11.0)
        treatment = QuantileArm(n=1000, estimate=11.5, lower=10.5, upper=12.5)
        result = compare_quantiles(control, treatment, TestConfig(difference_type="absolute"))
        se = math.hypot(2 / (2 * 1.959963984540054), 2 / (2 * 1.959963984540054))
        assert result.estimate == pytest.approx(1.5)
        assert result.standard_error == pytest.approx(se)
        assert result.p_value == pytest.approx(2 * scipy_stats.norm.sf(1.5 / se))
        assert result.ci[0] == pytest.approx(1.5 - 1.959963984540054 * se)
        assert result.test == "quantile_normal"

    def test_relative__delta_method(self) -> None:
        control = QuantileArm(n=500, estimate=10.0, lower=9.0, upper=11.0)
        treatment = QuantileArm(n=500, estimate=12.0, lower=11.0, upper=13.0)
        result = compare_quantiles(control, treatment, TestConfig())
        se_c = se_t = 1 / 1.959963984540054
        expected = math.sqrt(se_t**2 / 100 + 144 * se_c**2 / 10_000)
        assert result.estimate == pytest.approx(0.2)
        assert result.standard_error == pytest.approx(expected)

    def test_no_spread__raises(self) -> None:
        flat = QuantileArm(n=100, estimate=0.0, lower=0.0, upper=0.0)
        with pytest.raises(StatsInputError):
            compare_quantiles(flat, flat, TestConfig(difference_type="absolute"))


def _coverage(simulations: int, n: int, p: float, seed: int) -> tuple[float, float]:
    """Share of simulations whose arm interval covers the true quantile, and whose
    difference interval covers the true difference (0.5 shift of a lognormal)."""
    rng = np.random.default_rng(seed)
    truth = float(scipy_stats.lognorm.ppf(p, s=1.0))
    arm_hits = diff_hits = 0
    config = TestConfig(difference_type="absolute")
    for _ in range(simulations):
        c = quantile_arm(rng.lognormal(size=n), p)
        t = quantile_arm(rng.lognormal(size=n) + 0.5, p)
        arm_hits += c.lower <= truth <= c.upper
        low, high = compare_quantiles(c, t, config).ci
        assert low is not None
        assert high is not None
        diff_hits += low <= 0.5 <= high
    return arm_hits / simulations, diff_hits / simulations


class TestCoverage:
    @pytest.mark.parametrize("p", [0.5, 0.9])
    def test_coverage__near_nominal(self, p: float) -> None:
        arm, diff = _coverage(SIMULATIONS, 400, p, seed=7)
        # 300 runs: the binomial sd of a 95% coverage is 1.3 points
        assert 0.91 <= arm <= 0.995
        assert 0.91 <= diff <= 0.99

    @pytest.mark.slow
    def test_coverage__large_simulation(self) -> None:
        arm, diff = _coverage(max(SIMULATIONS, 4000), 1000, 0.9, seed=11)
        assert 0.935 <= arm <= 0.97
        assert 0.935 <= diff <= 0.965
