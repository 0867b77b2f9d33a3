"""Tool service functions: stats in, contract-shaped answers out, typed 422 errors."""

from __future__ import annotations

from typing import Any

import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from avsb.server.tools import schemas, service
from avsb.stats import SampleMeanStatistic, TestConfig, compare

BINARY = [
    {"key": "control", "n": 10000, "sum": 1000, "sum_squares": 1000},
    {"key": "b", "n": 10000, "sum": 1100},
    {"key": "c", "n": 10000, "sum": 1020},
]
CONTRACT_KEYS = {
    "variant",
    "estimate",
    "standard_error",
    "ci",
    "p_value",
    "adjusted_p_value",
    "chance_to_win",
    "risk_control",
    "risk_variant",
    "significant",
}


def _analyze(**body: Any) -> dict[str, Any]:
    return service.analyze(schemas.AnalyzeRequest.model_validate(body)).model_dump()


class TestAnalyze:
    def test_frequentist__contract_shape__one_comparison_per_variant(self) -> None:
        data = _analyze(metric_type="binary", variants=BINARY)

        assert [c["variant"] for c in data["comparisons"]] == ["b", "c"]
        assert set(data["comparisons"][0]) >= CONTRACT_KEYS
        assert data["comparisons"][0]["chance_to_win"] is None
        assert set(data["srm"]) == {"p_value", "srm_detected"}

    def test_frequentist__absolute__matches_scipy(self) -> None:
        variants = [
            {"key": "control", "n": 100, "sum": 500.0, "sum_squares": 3000.0},
            {"key": "b", "n": 120, "sum": 660.0, "sum_squares": 4000.0},
        ]
        c, t = SampleMeanStatistic(100, 500.0, 3000.0), SampleMeanStatistic(120, 660.0, 4000.0)
        expected = sps.ttest_ind_from_stats(
            t.mean, t.variance**0.5, t.n, c.mean, c.variance**0.5, c.n, equal_var=False
        ).pvalue

        data = _analyze(metric_type="continuous", difference_type="absolute", variants=variants)

        assert data["comparisons"][0]["p_value"] == pytest.approx(expected, rel=1e-6)
        assert data["comparisons"][0]["estimate"] == pytest.approx(0.5)

    def test_one_sided__open_end_is_null(self) -> None:
        data = _analyze(metric_type="binary", two_sided=False, variants=BINARY[:2])

        assert data["comparisons"][0]["ci"][1] is None
        assert data["comparisons"][0]["ci"][0] is not None

    def test_bayesian__p_values_null(self) -> None:
        data = _analyze(
            metric_type="binary", method="bayesian", prior={"mean": 0, "sd": 0.1}, variants=BINARY
        )

        first = data["comparisons"][0]
        assert first["p_value"] is None
        assert first["adjusted_p_value"] is None
        assert 0 <= first["chance_to_win"] <= 1
        assert first["risk_control"] >= 0
        assert first["risk_variant"] >= 0

    def test_holm__adjusted_p_values_match_multipletests(self) -> None:
        raw = _analyze(metric_type="binary", variants=BINARY)["comparisons"]
        expected = multipletests([c["p_value"] for c in raw], method="holm")[1]

        data = _analyze(metric_type="binary", correction="holm", variants=BINARY)

        assert [c["adjusted_p_value"] for c in data["comparisons"]] == pytest.approx(list(expected))
        assert data["correction"] == {"method": "holm", "family_size": 2, "interval_alpha": 0.025}

    def test_zero_control_conversions__exact_fallback_not_an_error(self) -> None:
        variants = [{"key": "control", "n": 1000, "sum": 0}, {"key": "b", "n": 1000, "sum": 7}]

        first = _analyze(metric_type="binary", variants=variants)["comparisons"][0]

        assert first["test"] == "fisher_exact"
        assert first["difference_type"] == "absolute"
        assert first["p_value"] > 0

    def test_strata__post_stratified_estimate(self) -> None:
        strata = [
            {
                "key": "desktop",
                "variants": [
                    {"key": "control", "n": 600, "sum": 6000.0, "sum_squares": 70000.0},
                    {"key": "b", "n": 600, "sum": 6300.0, "sum_squares": 76000.0},
                ],
            },
            {
                "key": "mobile",
                "variants": [
                    {"key": "control", "n": 400, "sum": 2000.0, "sum_squares": 12000.0},
                    {"key": "b", "n": 400, "sum": 2100.0, "sum_squares": 13000.0},
                ],
            },
        ]

        data = _analyze(metric_type="continuous", difference_type="absolute", strata=strata)

        assert data["comparisons"][0]["estimate"] == pytest.approx(0.4)

    def test_cuped__narrower_than_plain(self) -> None:
        variants = [
            {
                "key": "control",
                "n": 500,
                "sum": 5000.0,
                "sum_squares": 52000.0,
                "covariate_sum": 4900.0,
                "covariate_sum_squares": 49000.0,
                "cross_sum": 50200.0,
            },
            {
                "key": "b",
                "n": 500,
                "sum": 5200.0,
                "sum_squares": 56000.0,
                "covariate_sum": 4950.0,
                "covariate_sum_squares": 50000.0,
                "cross_sum": 52500.0,
            },
        ]

        plain = _analyze(metric_type="continuous", variants=variants)["comparisons"][0]
        adjusted = _analyze(metric_type="continuous", cuped=True, variants=variants)["comparisons"][
            0
        ]

        assert adjusted["standard_error"] < plain["standard_error"]

    def test_relative_lift_of_zero_control__absolute_answer_with_note(self) -> None:
        # Was a 422 at difference_type: a zero control mean has no relative lift, but the
        # absolute difference is a valid answer, so the tool gives it and says why.
        variants = [
            {"key": "control", "n": 10, "sum": 0.0, "sum_squares": 10.0},
            {"key": "b", "n": 10, "sum": 5.0, "sum_squares": 12.0},
        ]

        result = _analyze(metric_type="continuous", variants=variants)

        (comparison,) = result["comparisons"]
        assert comparison["difference_type"] == "absolute"
        assert comparison["estimate"] == pytest.approx(0.5)
        assert "positive control mean" in comparison["notes"][0]

    def test_matches_direct_engine_call(self) -> None:
        variants = [
            {"key": "control", "n": 100, "sum": 500.0, "sum_squares": 3000.0},
            {"key": "b", "n": 120, "sum": 660.0, "sum_squares": 4000.0},
        ]
        direct = compare(
            SampleMeanStatistic(100, 500.0, 3000.0),
            SampleMeanStatistic(120, 660.0, 4000.0),
            TestConfig(),
        )

        first = _analyze(metric_type="continuous", variants=variants)["comparisons"][0]

        assert first["p_value"] == direct.p_value
        assert tuple(first["ci"]) == direct.ci


class TestToolInputError:
    def test_path_and_loc__from_dotted_path(self) -> None:
        error = service.ToolInputError("strata.0.variants.1.n", "need at least 2 units")

        assert error.loc == ("strata", 0, "variants", 1, "n")
        assert error.details == {
            "fields": [
                {
                    "path": "strata.0.variants.1.n",
                    "location": "body",
                    "message": "need at least 2 units",
                    "type": "value_error",
                }
            ]
        }

    @pytest.mark.parametrize(
        ("field", "stratified", "path"),
        [
            ("strata.0.arms.1.sum_squares", False, "variants.1.sum_squares"),
            ("strata.2.arms.1.n", True, "strata.2.variants.1.n"),
            ("difference_type", False, "difference_type"),
        ],
    )
    def test_analyze_path__stats_field_to_request_field(
        self, field: str, stratified: bool, path: str
    ) -> None:
        assert service._analyze_path(field, stratified) == path


class TestPlanning:
    def test_sample_size__seed_calculate_body(self) -> None:
        req = schemas.CalculateRequest.model_validate(
            {
                "metric_type": "binary",
                "baseline_value": 0.042,
                "mde_pct": 5,
                "alpha": 0.05,
                "power": 0.8,
                "expected_daily_traffic": 12000,
                "audience_share_in_test": 0.6,
                "traffic_split": [50, 50],
                "variants_count": 2,
            }
        )

        result = service.sample_size(req)

        assert result.sample_size_per_variant == [146_639, 146_639]
        assert result.total_sample_size == 293_278
        assert result.estimated_duration_days == 41
        assert "z-test" in result.method

    def test_sample_size__no_traffic__duration_null(self) -> None:
        req = schemas.SampleSizeRequest(
            metric_type="continuous", baseline_value=50, std_dev=20, mde_pct=5
        )

        assert service.sample_size(req).estimated_duration_days is None

    def test_sensitivity__returns_percent_mde(self) -> None:
        req = schemas.SensitivityRequest(
            metric_type="binary", baseline_value=0.042, expected_daily_traffic=12000, days=14
        )

        result = service.sensitivity(req)

        assert result.mde_pct is not None
        assert 5 < result.mde_pct < 8
        assert result.total_sample_size == 168_000

    def test_sensitivity__too_little_traffic__tool_input_error(self) -> None:
        req = schemas.SensitivityRequest(
            metric_type="binary", baseline_value=0.1, expected_daily_traffic=1, days=1
        )

        with pytest.raises(service.ToolInputError) as caught:
            service.sensitivity(req)

        assert caught.value.path == "expected_daily_traffic"


class TestSrmMultipleBandit:
    def test_srm__chi_square_answer(self) -> None:
        result = service.srm(schemas.SrmRequest(observed=[5000, 5400]))

        assert result.srm_detected
        assert result.df == 1
        assert result.sequential_p_value is None

    def test_srm__sequential_decides_when_asked(self) -> None:
        result = service.srm(schemas.SrmRequest(observed=[5000, 5300], sequential=True))

        assert result.p_value < 0.01
        assert result.sequential_p_value is not None
        assert result.sequential_p_value > 0.001
        assert not result.srm_detected

    def test_multiple_testing__bh(self) -> None:
        result = service.multiple_testing(
            schemas.MultipleTestingRequest(p_values=[0.01, 0.02, 0.3], method="bh")
        )

        assert result.adjusted_p_values == pytest.approx([0.03, 0.03, 0.3])
        assert result.reject == [True, True, False]

    def test_bandit__seeded_and_complete(self) -> None:
        req = schemas.BanditSimulationRequest(
            true_rates=[0.1, 0.12], steps=50, batch_size=100, seed=3
        )

        first, second = service.bandit_simulation(req), service.bandit_simulation(req)

        assert first == second
        assert len(first.allocation) == len(first.cumulative_regret) == 50
        assert first.cumulative_regret[-1] < first.uniform_regret


def test_analyze__statistic_rejected_by_stats__tool_input_error_at_variant_field() -> None:
    # model_construct skips the schema checks, standing in for any input they might miss
    good = schemas.VariantStats(key="control", n=100, sum=10)
    bad = schemas.VariantStats.model_construct(key="b", n=100, sum=150.0, sum_squares=None)
    req = schemas.AnalyzeRequest.model_construct(
        metric_type="binary",
        method="frequentist",
        difference_type="relative",
        alpha=0.05,
        two_sided=True,
        lower_is_better=False,
        sequential_tuning_parameter=5000.0,
        prior=None,
        cuped=False,
        correction="none",
        variants=[good, bad],
        strata=None,
        weights=None,
        srm_threshold=0.001,
    )

    with pytest.raises(service.ToolInputError) as caught:
        service.analyze(req)

    assert caught.value.path == "variants.1.sum"
