"""Bayesian readout: posterior, chance to win and expected losses against direct integration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from avsb.stats import (
    BayesianConfig,
    Difference,
    NormalPrior,
    ProportionStatistic,
    StatsInputError,
    TestConfig,
    bayesian_test,
    beta_binomial_test,
)

DIFF = Difference(estimate=0.03, variance=0.02**2, df=math.inf, difference_type="relative")


def _expected_positive_part(mean: float, sd: float) -> float:
    value, _ = integrate.quad(lambda x: x * sps.norm.pdf(x, mean, sd), 0, math.inf)
    return float(value)


class TestGaussian:
    def test_flat_prior__posterior_is_the_estimate(self) -> None:
        result = bayesian_test(DIFF, 10.0, BayesianConfig())

        assert result.estimate == DIFF.estimate
        assert result.posterior_sd == pytest.approx(0.02)
        assert result.chance_to_win == pytest.approx(sps.norm.cdf(1.5), rel=1e-9)
        assert result.ci == pytest.approx(sps.norm.interval(0.95, 0.03, 0.02), rel=1e-9)

    def test_risks__match_numerical_integration(self) -> None:
        result = bayesian_test(DIFF, 10.0, BayesianConfig())

        assert result.risk_control == pytest.approx(_expected_positive_part(0.03, 0.02), rel=1e-7)
        assert result.risk_variant == pytest.approx(_expected_positive_part(-0.03, 0.02), rel=1e-7)
        assert result.risk_control - result.risk_variant == pytest.approx(0.03, rel=1e-9)

    def test_lower_is_better__swaps_win_and_risks(self) -> None:
        higher = bayesian_test(DIFF, 10.0, BayesianConfig())

        lower = bayesian_test(DIFF, 10.0, BayesianConfig(TestConfig(lower_is_better=True)))

        assert lower.chance_to_win == pytest.approx(1 - higher.chance_to_win, rel=1e-9)
        assert lower.risk_control == pytest.approx(higher.risk_variant, rel=1e-9)
        assert lower.risk_variant == pytest.approx(higher.risk_control, rel=1e-9)

    def test_normal_prior__shrinks_by_precision_weighting(self) -> None:
        prior = NormalPrior(mean=0.0, sd=0.02)

        result = bayesian_test(DIFF, 10.0, BayesianConfig(prior=prior))

        assert result.estimate == pytest.approx(0.015)  # equal precisions: halfway
        assert result.posterior_sd == pytest.approx(0.02 / math.sqrt(2))

    def test_prior_on_relative_lift__absolute_scale__is_scaled_by_control_mean(self) -> None:
        absolute = Difference(0.3, 0.2**2, math.inf, "absolute")
        prior = NormalPrior(mean=0.0, sd=0.02)  # 2% of a control mean of 10 = 0.2

        result = bayesian_test(absolute, 10.0, BayesianConfig(prior=prior))

        assert result.estimate == pytest.approx(0.15)

    def test_significant__when_credible_interval_excludes_zero(self) -> None:
        strong = Difference(0.05, 0.02**2, math.inf, "relative")

        result = bayesian_test(strong, 1.0, BayesianConfig())

        lower, _ = result.ci
        assert lower is not None
        assert lower > 0
        assert result.significant
        assert not bayesian_test(DIFF, 1.0, BayesianConfig()).significant

    def test_one_sided__credible_bound_open_at_better_end(self) -> None:
        result = bayesian_test(DIFF, 1.0, BayesianConfig(TestConfig(two_sided=False)))

        assert result.ci == pytest.approx((0.03 - sps.norm.ppf(0.95) * 0.02, None))

    def test_prior__non_positive_sd__raises(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            NormalPrior(0.0, 0.0)

        assert caught.value.field == "prior.sd"


class TestBetaBinomial:
    def test_zero_control_conversions__matches_monte_carlo(self) -> None:
        control, treatment = ProportionStatistic(1000, 0), ProportionStatistic(1000, 5)
        rng = np.random.default_rng(0)
        p_c = rng.beta(1, 1001, 2_000_000)
        p_t = rng.beta(6, 996, 2_000_000)
        d = p_t - p_c

        result = beta_binomial_test(control, treatment, BayesianConfig())

        assert result.test == "beta_binomial"
        assert result.chance_to_win == pytest.approx(np.mean(d > 0), abs=1e-3)
        assert result.risk_control == pytest.approx(np.mean(np.maximum(d, 0)), rel=1e-2)
        assert result.risk_variant == pytest.approx(np.mean(np.maximum(-d, 0)), rel=3e-2)
        assert result.ci == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])), rel=1e-2)

    def test_lower_is_better__chance_is_complement(self) -> None:
        control, treatment = ProportionStatistic(500, 0), ProportionStatistic(500, 2)
        higher = beta_binomial_test(control, treatment, BayesianConfig())

        lower = beta_binomial_test(
            control, treatment, BayesianConfig(TestConfig(lower_is_better=True))
        )

        assert lower.chance_to_win == pytest.approx(1 - higher.chance_to_win, rel=1e-9)
        assert lower.risk_variant == pytest.approx(higher.risk_control, rel=1e-9)
