"""Mann-Whitney U: checked against scipy.stats.mannwhitneyu (asymptotic with ties, and exact)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from avsb.stats.errors import StatsInputError
from avsb.stats.frequentist import TestConfig
from avsb.stats.nonparametric import (
    RankSums,
    exact_u_distribution,
    mann_whitney,
    mann_whitney_from_sums,
    rank_sums,
)

ALTERNATIVES = [
    (TestConfig(), "two-sided"),
    (TestConfig(two_sided=False), "greater"),
    (TestConfig(two_sided=False, lower_is_better=True), "less"),
]


class TestMannWhitney:
    @pytest.mark.parametrize(("config", "alternative"), ALTERNATIVES)
    def test_asymptotic_with_ties__matches_scipy(
        self, config: TestConfig, alternative: str
    ) -> None:
        rng = np.random.default_rng(3)
        control = rng.poisson(2.0, size=300).astype(float)  # many ties
        treatment = rng.poisson(2.3, size=250).astype(float)
        ours = mann_whitney(control, treatment, config, method="asymptotic")
        theirs = scipy_stats.mannwhitneyu(
            treatment, control, alternative=alternative, method="asymptotic"
        )
        assert ours.u_statistic == pytest.approx(theirs.statistic)
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
        assert ours.method == "asymptotic"

    @pytest.mark.parametrize(("config", "alternative"), ALTERNATIVES)
    def test_exact_small_samples__matches_scipy(self, config: TestConfig, alternative: str) -> None:
        rng = np.random.default_rng(5)
        control, treatment = rng.normal(size=7), rng.normal(0.8, size=6)
        ours = mann_whitney(control, treatment, config)
        theirs = scipy_stats.mannwhitneyu(
            treatment, control, alternative=alternative, method="exact"
        )
        assert ours.method == "exact"
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)

    def test_exact_distribution__sums_to_one_and_symmetric(self) -> None:
        dist = exact_u_distribution(5, 9)
        assert dist.sum() == pytest.approx(1.0)
        assert dist == pytest.approx(dist[::-1])

    def test_probability_of_superiority__pairs_counted(self) -> None:
        result = mann_whitney([1.0, 2.0], [2.0, 3.0], TestConfig(), method="asymptotic")
        # pairs (t, c): (2,1) win, (2,2) tie, (3,1) win, (3,2) win -> 3.5 / 4
        assert result.probability_of_superiority == pytest.approx(3.5 / 4)

    def test_from_sums__equals_from_values(self) -> None:
        sums = rank_sums([1.0, 1.0, 2.0, 5.0], [2.0, 3.0, 3.0, 7.0, 8.0])
        assert sums.tie_term == pytest.approx(2 * (8 - 2) + (8 - 2))
        direct = mann_whitney([1.0, 1.0, 2.0, 5.0], [2.0, 3.0, 3.0, 7.0, 8.0], TestConfig())
        assert mann_whitney_from_sums(sums, TestConfig()).p_value == pytest.approx(direct.p_value)

    def test_all_equal__raises(self) -> None:
        with pytest.raises(StatsInputError):
            rank_sums([1.0, 1.0, 1.0], [1.0, 1.0])

    def test_exact_with_ties__raises(self) -> None:
        with pytest.raises(StatsInputError):
            mann_whitney_from_sums(RankSums(3, 3, 12.0, 6.0), TestConfig(), method="exact")

    def test_null_p_values__uniform(self) -> None:
        rng = np.random.default_rng(9)
        p_values = [
            mann_whitney(rng.exponential(size=60), rng.exponential(size=60), TestConfig()).p_value
            for _ in range(400)
        ]
        # level-0.05 test rejects about 5% of the time under H0 (binomial sd 1.1 points)
        assert 0.02 <= np.mean(np.asarray(p_values) <= 0.05) <= 0.085
