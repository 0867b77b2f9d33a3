"""Categorical metrics: chi-square against scipy.stats.chi2_contingency, lifts per category."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from avsb.stats.categorical import categorical_analysis, share_lift
from avsb.stats.errors import StatsInputError

TABLE = [[500, 300, 200], [450, 360, 190], [520, 280, 230]]
CATEGORIES = ("free", "pro", "team")


class TestCategoricalAnalysis:
    def test_chi_square__matches_scipy(self) -> None:
        result = categorical_analysis(TABLE, CATEGORIES)
        chi2, p, dof, _ = scipy_stats.chi2_contingency(TABLE, correction=False)
        assert result.chi_square is not None
        assert result.chi_square.chi2 == pytest.approx(chi2)
        assert result.chi_square.p_value == pytest.approx(p)
        assert result.chi_square.df == dof

    def test_pairwise_chi_square__matches_scipy(self) -> None:
        result = categorical_analysis(TABLE, CATEGORIES)
        pair = result.comparisons[1].chi_square
        assert pair is not None
        chi2, p, _, _ = scipy_stats.chi2_contingency([TABLE[0], TABLE[2]], correction=False)
        assert pair.chi2 == pytest.approx(chi2)
        assert pair.p_value == pytest.approx(p)

    def test_shares__rows_sum_to_one(self) -> None:
        result = categorical_analysis(TABLE, CATEGORIES)
        assert np.asarray(result.shares).sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])
        assert result.shares[1][1] == pytest.approx(360 / 1000)

    def test_lift_p_value__is_2x2_chi_square_of_category_against_rest(self) -> None:
        lift = share_lift("pro", (300, 1000), (360, 1000), 0.05)
        _, p, _, _ = scipy_stats.chi2_contingency([[300, 700], [360, 640]], correction=False)
        assert lift.difference == pytest.approx(0.06)
        assert lift.p_value == pytest.approx(p)
        assert lift.ci[0] < 0.06 < lift.ci[1]

    def test_relative_lift__log_ratio_interval(self) -> None:
        lift = share_lift("pro", (300, 1000), (360, 1000), 0.05)
        se = np.sqrt(1 / 360 - 1 / 1000 + 1 / 300 - 1 / 1000)
        assert lift.relative_lift == pytest.approx(0.2)
        assert lift.relative_ci is not None
        assert lift.relative_ci[0] == pytest.approx(1.2 * np.exp(-1.959964 * se) - 1, rel=1e-5)

    def test_empty_control_category__no_relative_lift(self) -> None:
        lift = share_lift("team", (0, 100), (5, 100), 0.05)
        assert lift.relative_lift is None
        assert lift.relative_ci is None

    def test_single_category__no_chi_square(self) -> None:
        result = categorical_analysis([[10], [12]], ["(none)"])
        assert result.chi_square is None

    def test_empty_arm__raises(self) -> None:
        with pytest.raises(StatsInputError):
            categorical_analysis([[0, 0], [1, 2]], ["a", "b"])
