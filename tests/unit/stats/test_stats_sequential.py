"""Asymptotic confidence sequences: boundary, p-value and one-sided mixture, computed two ways."""

from __future__ import annotations

import math

import pytest
from scipy import integrate, optimize
from scipy import stats as sps

from avsb.stats import (
    Difference,
    SequentialConfig,
    TestConfig,
    sequential_interval,
    sequential_test,
)
from avsb.stats.sequential import sequential_rho

DIFF = Difference(estimate=0.8, variance=0.09, df=math.inf, difference_type="absolute")


def _gbstats_halfwidth(variance: float, n: int, tuning: float, alpha: float) -> float:
    """The half-width as GrowthBook's gbstats writes it, from unit variance s2 = variance * n."""
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    s2 = variance * n
    return math.sqrt(s2) * math.sqrt(
        (2 * (n * rho**2 + 1)) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / alpha)
    )


def _mixture(z: float, n: int, rho: float, one_sided: bool) -> float:
    """The mixture martingale by quadrature over lambda (half-normal mixing if one-sided)."""
    s = z * math.sqrt(n)

    def integrand(lam: float) -> float:
        weight = (2.0 if one_sided else 1.0) * float(sps.norm.pdf(lam, scale=rho))
        return math.exp(lam * s - lam * lam * n / 2) * weight

    lower = 0.0 if one_sided else -math.inf
    return float(integrate.quad(integrand, lower, math.inf, limit=200)[0])


class TestInterval:
    @pytest.mark.parametrize("n", [100, 5000, 80_000])
    @pytest.mark.parametrize("alpha", [0.05, 0.01])
    def test_two_sided__matches_gbstats_formula(self, n: int, alpha: float) -> None:
        config = SequentialConfig(TestConfig(alpha=alpha), tuning_parameter=5000)
        half = _gbstats_halfwidth(DIFF.variance, n, 5000, alpha)

        lower, upper = sequential_interval(DIFF, n, config)

        assert (lower, upper) == pytest.approx((0.8 - half, 0.8 + half), rel=1e-9)

    def test_rho__is_near_the_width_minimiser_at_the_tuning_size(self) -> None:
        n, alpha = 5000, 0.05

        def width(rho: float) -> float:
            a = rho * rho * n
            return (1 + a) / a * (2 * math.log(math.sqrt(1 + a) / alpha))

        best = optimize.minimize_scalar(width, bounds=(1e-4, 1.0), method="bounded").x

        assert sequential_rho(alpha, n) == pytest.approx(best, rel=0.1)

    def test_interval__always_wider_than_fixed_horizon(self) -> None:
        config = SequentialConfig(TestConfig())
        lower, upper = sequential_interval(DIFF, 5000, config)
        assert lower is not None
        assert upper is not None

        assert upper - lower > 2 * 1.96 * DIFF.standard_error

    def test_adjusted_alpha__widens_interval_without_changing_rho(self) -> None:
        config = SequentialConfig(TestConfig(alpha=0.05))
        base = sequential_interval(DIFF, 5000, config)
        wider = sequential_interval(DIFF, 5000, config, alpha=0.025)
        assert base[0] is not None
        assert wider[0] is not None

        assert wider[0] < base[0]


class TestPValue:
    @pytest.mark.parametrize("n", [200, 5000, 50_000])
    def test_two_sided__equals_inverse_of_mixture_by_quadrature(self, n: int) -> None:
        config = SequentialConfig(TestConfig(difference_type="absolute"))
        rho = sequential_rho(0.05, config.tuning_parameter)
        diff = Difference(0.1, 0.1**2 / 2.0**2, math.inf, "absolute")  # z = 2

        result = sequential_test(diff, n, config)

        expected = min(1.0, 1.0 / _mixture(2.0, n, rho, one_sided=False))
        assert result.p_value == pytest.approx(expected, rel=1e-6)

    @pytest.mark.parametrize("lower_is_better", [False, True])
    def test_one_sided__half_normal_mixture_by_quadrature(self, lower_is_better: bool) -> None:
        test = TestConfig(
            two_sided=False, lower_is_better=lower_is_better, difference_type="absolute"
        )
        config = SequentialConfig(test)
        rho = sequential_rho(0.05, config.tuning_parameter)
        sign = -1.0 if lower_is_better else 1.0
        diff = Difference(sign * 0.25, 0.01, math.inf, "absolute")  # directional z = 2.5

        result = sequential_test(diff, 4000, config)

        expected = min(1.0, 1.0 / _mixture(2.5, 4000, rho, one_sided=True))
        assert result.p_value == pytest.approx(expected, rel=1e-6)
        assert (result.ci[0] is None) == lower_is_better

    @pytest.mark.parametrize("two_sided", [True, False])
    def test_p_value_equals_alpha__exactly_at_the_interval_boundary(self, two_sided: bool) -> None:
        config = SequentialConfig(TestConfig(two_sided=two_sided))
        unit = Difference(1.0, 1.0, math.inf, "absolute")
        lower, _ = sequential_interval(unit, 3000, config)
        assert lower is not None
        at_boundary = Difference(1.0 - lower, 1.0, math.inf, "absolute")

        result = sequential_test(at_boundary, 3000, config)

        assert result.p_value == pytest.approx(0.05, rel=1e-8)

    def test_huge_effect__p_value_positive(self) -> None:
        diff = Difference(100.0, 1.0, math.inf, "absolute")

        result = sequential_test(diff, 10_000, SequentialConfig())

        assert 0.0 < result.p_value < 1e-300
        assert result.significant
