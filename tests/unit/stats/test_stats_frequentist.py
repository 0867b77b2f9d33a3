"""Welch's t-test, the delta method and the statistics it starts from, checked against scipy."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats as sps

from avsb.stats import (
    ArmEstimate,
    ProportionStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    StatsInputError,
    TestConfig,
    compare,
    difference,
    estimate_arm,
    welch_test,
)

REL = 1e-6


def _scipy(
    control: SampleMeanStatistic | ProportionStatistic,
    treatment: SampleMeanStatistic | ProportionStatistic,
    alternative: str = "two-sided",
) -> tuple[float, float]:
    result = sps.ttest_ind_from_stats(
        treatment.mean,
        math.sqrt(treatment.variance),
        treatment.n,
        control.mean,
        math.sqrt(control.variance),
        control.n,
        equal_var=False,
        alternative=alternative,
    )
    return float(result.statistic), float(result.pvalue)


class TestSufficientStatistics:
    def test_add__two_samples__equals_statistic_of_pooled_values(self) -> None:
        rng = np.random.default_rng(1)
        a, b = rng.normal(size=30), rng.normal(size=50)
        both = np.concatenate([a, b])

        pooled = SampleMeanStatistic(30, a.sum(), (a**2).sum()) + SampleMeanStatistic(
            50, b.sum(), (b**2).sum()
        )

        assert pooled.n == 80
        assert pooled.mean == pytest.approx(both.mean(), rel=1e-12)
        assert pooled.variance == pytest.approx(both.var(ddof=1), rel=1e-9)

    def test_proportion_variance__rate_p__is_p_times_one_minus_p(self) -> None:
        stat = ProportionStatistic(200, 30)

        assert stat.sum_squares == stat.sum
        assert stat.variance == pytest.approx(0.15 * 0.85)
        assert (stat + ProportionStatistic(100, 20)).mean == pytest.approx(50 / 300)

    def test_ratio_variance__delta_method__matches_linearised_unit_values(self) -> None:
        rng = np.random.default_rng(2)
        den = rng.poisson(3, size=400) + 1.0
        num = den * rng.gamma(2.0, 5.0, size=400)
        stat = RatioStatistic(
            400, num.sum(), (num**2).sum(), den.sum(), (den**2).sum(), (num * den).sum()
        )
        ratio = num.sum() / den.sum()
        linearised = (num - ratio * den) / den.mean()

        assert stat.mean == pytest.approx(ratio, rel=1e-12)
        assert stat.variance == pytest.approx(linearised.var(ddof=1), rel=1e-9)

    @pytest.mark.parametrize(
        ("factory", "field"),
        [
            (lambda: SampleMeanStatistic(-1, 0.0, 0.0), "n"),
            (lambda: SampleMeanStatistic(5, math.nan, 1.0), "sum"),
            (lambda: ProportionStatistic(10, 11), "sum"),
            (lambda: SampleMeanStatistic(5, 1.0, -1.0), "sum_squares"),
        ],
    )
    def test_construct__impossible_values__raise_stats_input_error_with_field(
        self, factory: Callable[[], object], field: str
    ) -> None:
        with pytest.raises(StatsInputError) as caught:
            factory()

        assert caught.value.field == field
        assert isinstance(caught.value, ValueError)

    def test_estimate_arm__one_unit__raises_for_n(self) -> None:
        with pytest.raises(StatsInputError, match="at least 2") as caught:
            estimate_arm(SampleMeanStatistic(1, 3.0, 9.0))

        assert caught.value.field == "n"


class TestWelchAgainstScipy:
    @pytest.mark.parametrize(
        ("control", "treatment"),
        [
            (SampleMeanStatistic(100, 500, 3000), SampleMeanStatistic(120, 660, 4000)),
            (SampleMeanStatistic(2, 3.0, 5.0), SampleMeanStatistic(3, 9.0, 29.0)),  # n of 2 and 3
            (SampleMeanStatistic(6, 12.0, 30.0), SampleMeanStatistic(4, 4.0, 10.0)),
            (SampleMeanStatistic(1000, 1000.0, 5000.0), SampleMeanStatistic(9000, 9500.0, 47000.0)),
            (ProportionStatistic(10000, 1000), ProportionStatistic(10000, 1100)),
            (ProportionStatistic(1000, 100), ProportionStatistic(9000, 1000)),  # a 1:9 split
        ],
    )
    def test_absolute__two_sided__matches_ttest_ind_from_stats(
        self,
        control: SampleMeanStatistic | ProportionStatistic,
        treatment: SampleMeanStatistic | ProportionStatistic,
    ) -> None:
        statistic, p_value = _scipy(control, treatment)

        result = compare(control, treatment, TestConfig(difference_type="absolute"))

        assert result.estimate / result.standard_error == pytest.approx(statistic, rel=REL)
        assert result.p_value == pytest.approx(p_value, rel=REL)
        assert result.test == "welch_t"

    @pytest.mark.parametrize(
        ("lower_is_better", "alternative"), [(False, "greater"), (True, "less")]
    )
    def test_absolute__one_sided__matches_scipy_alternative(
        self, lower_is_better: bool, alternative: str
    ) -> None:
        control, treatment = SampleMeanStatistic(50, 250, 1500), SampleMeanStatistic(60, 320, 2000)
        _, p_value = _scipy(control, treatment, alternative)
        config = TestConfig(
            two_sided=False, lower_is_better=lower_is_better, difference_type="absolute"
        )

        result = compare(control, treatment, config)

        assert result.p_value == pytest.approx(p_value, rel=REL)
        assert (result.ci[1] is None) != lower_is_better
        assert (result.ci[0] is None) == lower_is_better

    def test_interval__two_sided__is_estimate_plus_minus_t_quantile_times_se(self) -> None:
        control, treatment = SampleMeanStatistic(40, 200, 1200), SampleMeanStatistic(45, 250, 1600)
        result = compare(control, treatment, TestConfig(alpha=0.1, difference_type="absolute"))
        assert result.df is not None
        half = sps.t.ppf(0.95, result.df) * result.standard_error

        assert result.ci == pytest.approx((result.estimate - half, result.estimate + half), rel=REL)

    def test_welch_df__unequal_arms__matches_satterthwaite_formula(self) -> None:
        c, t = SampleMeanStatistic(12, 30, 120), SampleMeanStatistic(30, 90, 400)
        a, b = t.variance / t.n, c.variance / c.n
        expected = (a + b) ** 2 / (a**2 / (t.n - 1) + b**2 / (c.n - 1))

        result = compare(c, t, TestConfig(difference_type="absolute"))

        assert result.df == pytest.approx(expected, rel=1e-12)


class TestRelativeLift:
    def test_delta_method__variance__matches_textbook_formula(self) -> None:
        c = ArmEstimate(mean=10.0, variance=0.04, df=99, n=100)
        t = ArmEstimate(mean=11.0, variance=0.05, df=99, n=100)

        diff = difference(c, t, "relative")

        assert diff.estimate == pytest.approx(0.1)
        assert diff.variance == pytest.approx(0.05 / 100 + 121 * 0.04 / 10_000, rel=1e-12)

    def test_delta_method__simulated_ratios__se_matches_monte_carlo_sd(self) -> None:
        rng = np.random.default_rng(4)
        c, t = ArmEstimate(20.0, 0.25, 1e9, 10**9), ArmEstimate(22.0, 0.36, 1e9, 10**9)
        draws = rng.normal(22.0, 0.6, 400_000) / rng.normal(20.0, 0.5, 400_000) - 1

        diff = difference(c, t, "relative")

        assert diff.standard_error == pytest.approx(draws.std(), rel=0.01)

    def test_relative__zero_control_mean__raises(self) -> None:
        c, t = ArmEstimate(0.0, 0.1, 9, 10), ArmEstimate(1.0, 0.1, 9, 10)

        with pytest.raises(StatsInputError, match="undefined"):
            difference(c, t, "relative")


class TestEdgeCases:
    def test_identical_arms__estimate_zero__p_value_one(self) -> None:
        arm = SampleMeanStatistic(50, 100.0, 400.0)

        result = compare(arm, arm, TestConfig())

        assert result.estimate == 0.0
        assert result.p_value == 1.0
        assert not result.significant

    def test_zero_variance_both_arms__raises_for_variance(self) -> None:
        c, t = SampleMeanStatistic(5, 10.0, 20.0), SampleMeanStatistic(5, 15.0, 45.0)

        with pytest.raises(StatsInputError, match="zero variance") as caught:
            compare(c, t, TestConfig(difference_type="absolute"))

        assert caught.value.field == "variance"

    def test_zero_variance_one_arm__uses_the_other_arm(self) -> None:
        c, t = SampleMeanStatistic(5, 10.0, 20.0), SampleMeanStatistic(6, 15.0, 45.0)
        _, p_value = _scipy(c, t)

        result = compare(c, t, TestConfig(difference_type="absolute"))

        assert result.p_value == pytest.approx(p_value, rel=REL)
        assert result.df == pytest.approx(5.0)

    def test_error_field__bad_treatment__names_the_arm(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            compare(SampleMeanStatistic(5, 1, 1), SampleMeanStatistic(1, 1, 1), TestConfig())

        assert caught.value.field == "treatment.n"

    def test_tiny_p_value__z_of_40__stays_positive_with_log(self) -> None:
        c = ArmEstimate(0.0, 1.0, math.inf, 10**6)
        t = ArmEstimate(40.0 * math.sqrt(2.0), 1.0, math.inf, 10**6)

        result = welch_test(difference(c, t, "absolute"), TestConfig())

        assert result.p_value > 0.0
        assert result.log_p_value == pytest.approx(math.log(2) + sps.norm.logsf(40.0), rel=1e-9)
        assert result.significant

    def test_tiny_p_value__large_df_t__matches_tail_integral(self) -> None:
        c = SampleMeanStatistic(5000, 0.0, 5000.0)
        t = SampleMeanStatistic(5000, 5000.0 * 1.0, 5000.0 * 2.0)

        result = compare(c, t, TestConfig(difference_type="absolute"))

        assert result.p_value > 0.0
        assert result.log_p_value < -700
        assert math.isfinite(result.log_p_value)

    def test_config__alpha_outside_unit_interval__raises(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            TestConfig(alpha=1.5)

        assert caught.value.field == "alpha"
