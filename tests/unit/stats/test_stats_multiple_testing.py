"""Bonferroni, Holm and Benjamini–Hochberg against statsmodels' multipletests."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from avsb.stats import CorrectionMethod, StatsInputError, adjust_p_values, correct, family_size
from avsb.stats.multiple_testing import interval_alpha

METHODS: dict[CorrectionMethod, str] = {"bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh"}


class TestAgainstStatsmodels:
    @pytest.mark.parametrize("method", ["bonferroni", "holm", "bh"])
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_adjusted_and_reject__match_multipletests(
        self, method: CorrectionMethod, seed: int
    ) -> None:
        rng = np.random.default_rng(seed)
        p = np.concatenate([rng.uniform(0, 0.02, 4), rng.uniform(0, 1, 11)])
        reject, adjusted, _, _ = multipletests(p, alpha=0.05, method=METHODS[method])

        result = correct(list(p), method, 0.05)

        assert result.adjusted_p_values == pytest.approx(list(adjusted), rel=1e-12)
        assert list(result.reject) == list(reject)

    def test_ties_and_ones__match_multipletests(self) -> None:
        p = [0.01, 0.01, 0.04, 1.0, 0.0]
        for method, name in METHODS.items():
            expected = multipletests(p, method=name)[1]

            assert adjust_p_values(p, method) == pytest.approx(list(expected))


class TestIntervals:
    def test_bonferroni_and_holm__alpha_over_family(self) -> None:
        assert correct([0.01, 0.2, 0.5], "bonferroni").interval_alpha == pytest.approx(0.05 / 3)
        assert correct([0.01, 0.2, 0.5], "holm").interval_alpha == pytest.approx(0.05 / 3)

    def test_bh__false_coverage_rate_level__rejected_intervals_exclude_zero(self) -> None:
        p = [0.001, 0.02, 0.03, 0.5]
        result = correct(p, "bh")

        assert sum(result.reject) == 3
        assert result.interval_alpha == pytest.approx(0.05 * 3 / 4)
        # a test's interval at level 1 - a excludes 0 exactly when its p-value is below a
        assert all(pv <= result.interval_alpha for pv, r in zip(p, result.reject, strict=True) if r)

    def test_none__keeps_alpha(self) -> None:
        assert interval_alpha("none", 0.05, 4, 0) == 0.05


class TestFamily:
    def test_family_size__primary_metrics_times_variants(self) -> None:
        assert family_size(3, 2) == 6

    def test_invalid_p_value__raises(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            adjust_p_values([0.1, 1.2], "holm")

        assert caught.value.field == "p_values"
