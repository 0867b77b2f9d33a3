"""SRM: chi-square against scipy; the sequential Bayes factor against scipy's distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from avsb.stats import StatsInputError, sequential_srm_p_values, sequential_srm_test, srm_test
from avsb.stats.srm import srm_log_bayes_factor


class TestChiSquare:
    @pytest.mark.parametrize(
        ("observed", "weights"),
        [
            ([5000, 5300], None),
            ([1000, 1030, 990], None),
            ([1000, 9000], [10, 90]),
            ([50, 120, 330], [1, 2, 7]),
        ],
    )
    def test_matches_scipy_chisquare(
        self, observed: list[int], weights: list[float] | None
    ) -> None:
        total = sum(observed)
        w = np.ones(len(observed)) if weights is None else np.asarray(weights, dtype=float)
        expected = sps.chisquare(observed, total * w / w.sum())

        result = srm_test(observed, weights)

        assert result.chi2 == pytest.approx(expected.statistic, rel=1e-9)
        assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)
        assert result.df == len(observed) - 1

    def test_default_threshold__p_below_one_in_a_thousand__detected(self) -> None:
        assert srm_test([5000, 5300]).srm_detected is False
        assert srm_test([5000, 5400]).srm_detected is True

    def test_extreme_imbalance__p_value_positive(self) -> None:
        result = srm_test([100_000, 50_000])

        assert result.srm_detected
        assert result.p_value > 0.0
        assert result.log_p_value < -3000

    @pytest.mark.parametrize(
        ("observed", "weights", "field"),
        [
            ([10], None, "observed"),
            ([10, 10], [1.0], "weights"),
            ([0, 0], None, "observed"),
            ([5, 5], [1.0, 0.0], "weights"),
        ],
    )
    def test_invalid__raises_with_field(
        self, observed: list[int], weights: list[float] | None, field: str
    ) -> None:
        with pytest.raises(StatsInputError) as caught:
            srm_test(observed, weights)

        assert caught.value.field == field


class TestSequential:
    @pytest.mark.parametrize("observed", [[520, 480], [100, 130, 90], [0, 7]])
    def test_log_bayes_factor__dirichlet_multinomial_over_multinomial(
        self, observed: list[int]
    ) -> None:
        p0 = np.full(len(observed), 1 / len(observed))
        n = sum(observed)
        expected = sps.dirichlet_multinomial.logpmf(
            observed, 10_000 * p0, n
        ) - sps.multinomial.logpmf(observed, n, p0)

        assert srm_log_bayes_factor(observed) == pytest.approx(expected, rel=1e-9, abs=1e-9)

    def test_balanced__no_detection__broken_split__detected(self) -> None:
        assert not sequential_srm_test([5010, 4990]).srm_detected
        assert sequential_srm_test([50_000, 53_000]).srm_detected

    def test_running_minimum__non_increasing(self) -> None:
        history = [[100, 100], [210, 190], [300, 330], [400, 420]]

        values = sequential_srm_p_values(history)

        assert list(values) == sorted(values, reverse=True)

    def test_aa_under_continuous_monitoring__rejects_at_most_alpha(self) -> None:
        rng = np.random.default_rng(17)
        runs, looks, per_look, alpha = 1000, 50, 200, 0.05
        counts = rng.binomial(per_look, 0.5, size=(runs, looks)).cumsum(axis=1)
        totals = per_look * np.arange(1, looks + 1)
        rejected = 0
        for run in range(runs):
            history = [[int(c), int(t - c)] for c, t in zip(counts[run], totals, strict=True)]
            rejected += sequential_srm_p_values(history)[-1] <= alpha

        assert rejected / runs <= alpha
