"""A metric's full readout through analyze_metric: methods, arms, strata, corrections, errors."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from avsb.stats import (
    AnalysisOptions,
    CorrectionMethod,
    NormalPrior,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    StatsInputError,
    TestConfig,
    analyze_family,
    analyze_metric,
    compare,
)

ARMS = [
    SampleMeanStatistic(1000, 10_000.0, 125_000.0),
    SampleMeanStatistic(1000, 10_300.0, 131_000.0),
    SampleMeanStatistic(1000, 9_900.0, 122_000.0),
    SampleMeanStatistic(1000, 10_600.0, 139_000.0),
]


class TestMethods:
    def test_frequentist__three_plus_arms__one_comparison_each_against_control(self) -> None:
        result = analyze_metric([ARMS], AnalysisOptions())

        assert [c.variant_index for c in result.comparisons] == [1, 2, 3]
        for c, arm in zip(result.comparisons, ARMS[1:], strict=True):
            expected = compare(ARMS[0], arm, TestConfig())
            assert c.p_value == expected.p_value
            assert c.chance_to_win is None
            assert c.adjusted_p_value is None

    def test_bayesian__no_p_values__chance_and_risks(self) -> None:
        result = analyze_metric(
            [ARMS[:2]], AnalysisOptions(method="bayesian", prior=NormalPrior(0, 0.1))
        )

        c = result.comparisons[0]
        assert c.p_value is None
        assert c.adjusted_p_value is None
        assert c.chance_to_win is not None
        assert 0.5 < c.chance_to_win < 1
        assert c.risk_control is not None
        assert c.risk_variant is not None

    def test_sequential__always_valid_p_above_fixed_horizon_p(self) -> None:
        fixed = analyze_metric([ARMS[:2]], AnalysisOptions()).comparisons[0]

        sequential = analyze_metric([ARMS[:2]], AnalysisOptions(method="sequential")).comparisons[0]

        assert sequential.test == "sequential_confidence_sequence"
        assert fixed.p_value is not None
        assert sequential.p_value is not None
        assert sequential.p_value > fixed.p_value

    def test_srm__counts_compared_with_weights(self) -> None:
        arms = [ProportionStatistic(1000, 100), ProportionStatistic(9000, 950)]

        result = analyze_metric([arms], AnalysisOptions(metric_type="binary", srm_weights=(10, 90)))

        assert result.srm.p_value == pytest.approx(1.0)
        assert not result.srm.srm_detected

    def test_ratio_metric__delta_method_per_arm(self) -> None:
        arms = [
            RatioStatistic(500, 5000.0, 80_000.0, 1000.0, 2600.0, 13_000.0),
            RatioStatistic(500, 5600.0, 98_000.0, 1010.0, 2650.0, 14_500.0),
        ]

        c = analyze_metric([arms], AnalysisOptions(metric_type="ratio")).comparisons[0]

        assert c.estimate == pytest.approx((5600 / 1010) / (5000 / 1000) - 1)


class TestCorrection:
    @pytest.mark.parametrize(
        ("method", "name"), [("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")]
    )
    def test_adjusted_p_values__match_multipletests_over_the_variants(
        self, method: CorrectionMethod, name: str
    ) -> None:
        raw = analyze_metric([ARMS], AnalysisOptions()).comparisons
        expected = multipletests([c.p_value for c in raw], method=name)[1]

        result = analyze_metric([ARMS], AnalysisOptions(correction=method))

        assert [c.adjusted_p_value for c in result.comparisons] == pytest.approx(list(expected))
        assert result.correction is not None
        assert result.correction.family_size == 3

    def test_bonferroni__interval_at_alpha_over_family(self) -> None:
        result = analyze_metric([ARMS], AnalysisOptions(correction="bonferroni"))

        wide = compare(ARMS[0], ARMS[1], TestConfig(alpha=0.05 / 3))
        assert result.comparisons[0].ci == pytest.approx(wide.ci)


class TestBinaryFallback:
    def test_zero_control_conversions__fisher_on_absolute_scale(self) -> None:
        arms = [
            ProportionStatistic(2000, 0),
            ProportionStatistic(2000, 9),
            ProportionStatistic(2000, 1),
        ]

        result = analyze_metric([arms], AnalysisOptions(metric_type="binary"))

        assert [c.test for c in result.comparisons] == ["fisher_exact", "fisher_exact"]
        assert all(c.difference_type == "absolute" for c in result.comparisons)
        table = [[9, 1991], [0, 2000]]
        assert result.comparisons[0].p_value == pytest.approx(
            sps.fisher_exact(table).pvalue, rel=1e-6
        )

    def test_zero_control_conversions__bayesian__beta_binomial(self) -> None:
        arms = [ProportionStatistic(2000, 0), ProportionStatistic(2000, 9)]

        result = analyze_metric([arms], AnalysisOptions(metric_type="binary", method="bayesian"))

        assert result.comparisons[0].test == "beta_binomial"
        assert result.comparisons[0].chance_to_win == pytest.approx(1.0, abs=0.01)


class TestStrataAndCuped:
    def test_strata__pooled_counts_for_srm_and_weighted_effect(self) -> None:
        desktop = [
            SampleMeanStatistic(600, 6000.0, 70_000.0),
            SampleMeanStatistic(600, 6300.0, 76_000.0),
        ]
        mobile = [
            SampleMeanStatistic(400, 2000.0, 12_000.0),
            SampleMeanStatistic(400, 2100.0, 13_000.0),
        ]
        options = AnalysisOptions(test=TestConfig(difference_type="absolute"))

        result = analyze_metric([desktop, mobile], options)

        assert result.arms[0].n == 1000
        assert result.comparisons[0].estimate == pytest.approx(0.6 * 0.5 + 0.4 * 0.25)

    def test_cuped__binary_metric_with_covariate(self) -> None:
        arms = [
            RegressionAdjustedStatistic(1000, 100.0, 100.0, 120.0, 120.0, 80.0),
            RegressionAdjustedStatistic(1000, 130.0, 130.0, 118.0, 118.0, 95.0),
        ]
        plain = analyze_metric(
            [[ProportionStatistic(1000, 100.0), ProportionStatistic(1000, 130.0)]],
            AnalysisOptions(metric_type="binary"),
        ).comparisons[0]

        adjusted = analyze_metric(
            [arms], AnalysisOptions(metric_type="binary", cuped=True)
        ).comparisons[0]

        assert adjusted.standard_error < plain.standard_error


class TestErrors:
    def test_one_arm__raises_for_arms(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            analyze_metric([ARMS[:1]], AnalysisOptions())

        assert caught.value.field == "arms"

    def test_eleven_arms__raises_for_arms(self) -> None:
        with pytest.raises(StatsInputError):
            analyze_metric([ARMS[:1] * 11], AnalysisOptions())

    def test_n_below_two__path_names_stratum_and_arm(self) -> None:
        arms = [ARMS[0], SampleMeanStatistic(1, 5.0, 25.0)]

        with pytest.raises(StatsInputError) as caught:
            analyze_metric([arms], AnalysisOptions())

        assert caught.value.field == "strata.0.arms.1.n"

    def test_zero_variance_both_arms__path_names_the_variant(self) -> None:
        flat = [SampleMeanStatistic(10, 50.0, 250.0), SampleMeanStatistic(10, 60.0, 360.0)]

        with pytest.raises(StatsInputError) as caught:
            analyze_metric([flat], AnalysisOptions())

        assert caught.value.field == "strata.0.arms.1.sum_squares"

    def test_relative_lift_of_zero_mean_control__answers_absolute_with_a_note(self) -> None:
        # Was: a StatsInputError on difference_type. A zero control mean has no relative lift,
        # but the absolute difference is still a valid answer; the note says why.
        arms = [SampleMeanStatistic(10, 0.0, 10.0), SampleMeanStatistic(10, 5.0, 12.0)]

        result = analyze_metric([arms], AnalysisOptions()).comparisons[0]

        assert result.difference_type == "absolute"
        assert result.estimate == pytest.approx(0.5)
        assert "positive control mean" in result.notes[0]

    def test_wrong_statistic_type__raises(self) -> None:
        with pytest.raises(StatsInputError, match="ProportionStatistic"):
            analyze_metric([ARMS[:2]], AnalysisOptions(metric_type="binary"))

    def test_cuped_ratio__raises_for_cuped(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            analyze_metric([ARMS[:2]], AnalysisOptions(metric_type="ratio", cuped=True))

        assert caught.value.field == "cuped"


def test_tiny_p_value__huge_effect_through_analysis__positive() -> None:
    arms = [ProportionStatistic(100_000, 10_000), ProportionStatistic(100_000, 20_000)]

    c = analyze_metric([arms], AnalysisOptions(metric_type="binary")).comparisons[0]

    assert c.p_value is not None
    assert 0.0 < c.p_value < 1e-300
    assert not math.isnan(c.estimate)


class TestFamily:
    def test_two_primary_metrics__one_holm_family_of_metrics_times_variants(self) -> None:
        other = [SampleMeanStatistic(1000, 5000.0, 30_000.0)] + [
            SampleMeanStatistic(1000, 5000.0 + 60 * k, 30_500.0 + 700 * k) for k in (1, 2)
        ]
        metrics = [([ARMS[:3]], AnalysisOptions()), ([other], AnalysisOptions())]
        raw = [c.p_value for cells, o in metrics for c in analyze_metric(cells, o).comparisons]
        expected = multipletests(raw, method="holm")[1]

        results = analyze_family(metrics, "holm")

        adjusted = [c.adjusted_p_value for r in results for c in r.comparisons]
        assert adjusted == pytest.approx(list(expected))
        assert all(r.correction is not None and r.correction.family_size == 4 for r in results)

    def test_bonferroni_family__intervals_at_alpha_over_family_size(self) -> None:
        metrics = [([ARMS[:2]], AnalysisOptions()), ([ARMS[2:]], AnalysisOptions())]

        first = analyze_family(metrics, "bonferroni")[0].comparisons[0]

        assert first.ci == pytest.approx(compare(ARMS[0], ARMS[1], TestConfig(alpha=0.025)).ci)

    def test_error__path_names_the_metric(self) -> None:
        metrics = [([ARMS[:2]], AnalysisOptions()), ([ARMS[:1]], AnalysisOptions())]

        with pytest.raises(StatsInputError) as caught:
            analyze_family(metrics, "holm")

        assert caught.value.field == "metrics.1.arms"
