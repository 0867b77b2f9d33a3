"""Tool request models: impossible input is a validation error located at its field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from avsb.server.tools import schemas

CONTROL = {"key": "control", "n": 1000, "sum": 100, "sum_squares": 100}
VARIANT = {"key": "b", "n": 1000, "sum": 120}
CONTINUOUS_C = {"key": "control", "n": 50, "sum": 500.0, "sum_squares": 5400.0}
CONTINUOUS_T = {"key": "b", "n": 50, "sum": 520.0, "sum_squares": 5800.0}
CALCULATE = {
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


def _locs(model: type[BaseModel], body: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [tuple(error["loc"]) for error in caught.value.errors()]


class TestAnalyzeRequest:
    def test_valid__defaults_applied(self) -> None:
        req = schemas.AnalyzeRequest.model_validate(
            {"metric_type": "binary", "variants": [CONTROL, VARIANT]}
        )

        assert req.method == "frequentist"
        assert req.difference_type == "relative"
        assert req.sequential_tuning_parameter == 5000

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            (
                {"metric_type": "binary", "variants": [CONTROL, {**VARIANT, "n": 1}]},
                ("variants", 1, "n"),
            ),
            ({"metric_type": "binary", "variants": [CONTROL]}, ("variants",)),
            (
                {
                    "metric_type": "binary",
                    "variants": [CONTROL, *[{**VARIANT, "key": f"v{i}"} for i in range(10)]],
                },
                ("variants",),
            ),
            (
                {"metric_type": "binary", "variants": [CONTROL, {**VARIANT, "sum": 1001}]},
                ("variants", 1, "sum"),
            ),
            (
                {"metric_type": "binary", "variants": [CONTROL, {**VARIANT, "sum_squares": 7}]},
                ("variants", 1, "sum_squares"),
            ),
            (
                {"metric_type": "binary", "variants": [CONTROL, {**VARIANT, "key": "control"}]},
                ("variants", 1, "key"),
            ),
            (
                {"metric_type": "binary", "variants": [CONTROL, VARIANT], "weights": [1, 2, 3]},
                ("weights",),
            ),
            ({"metric_type": "binary", "variants": [CONTROL, VARIANT], "alpha": 1.5}, ("alpha",)),
            ({"metric_type": "binary", "variants": [CONTROL, VARIANT], "extra": 1}, ("extra",)),
            ({"metric_type": "binary"}, ("variants",)),
            (
                {
                    "metric_type": "continuous",
                    "variants": [CONTINUOUS_C, {**CONTINUOUS_T, "sum_squares": None}],
                },
                ("variants", 1, "sum_squares"),
            ),
            (
                {
                    "metric_type": "continuous",
                    "variants": [CONTINUOUS_C, {**CONTINUOUS_T, "sum_squares": 10.0}],
                },
                ("variants", 1, "sum_squares"),
            ),
            (
                {"metric_type": "ratio", "variants": [CONTROL, VARIANT]},
                ("variants", 0, "denominator_sum"),
            ),
            (
                {
                    "metric_type": "ratio",
                    "cuped": True,
                    "variants": [
                        {**CONTROL, "denominator_sum": 5},
                        {**VARIANT, "denominator_sum": 5},
                    ],
                },
                ("cuped",),
            ),
        ],
    )
    def test_invalid__error_located_at_field(
        self, body: dict[str, Any], loc: tuple[str | int, ...]
    ) -> None:
        assert loc in _locs(schemas.AnalyzeRequest, body)

    def test_zero_variance_both_arms__error_at_variant_sum_squares(self) -> None:
        flat_c = {"key": "control", "n": 10, "sum": 50.0, "sum_squares": 250.0}
        flat_t = {"key": "b", "n": 10, "sum": 60.0, "sum_squares": 360.0}

        locs = _locs(
            schemas.AnalyzeRequest, {"metric_type": "continuous", "variants": [flat_c, flat_t]}
        )

        assert locs == [("variants", 1, "sum_squares")]

    def test_zero_variance_one_arm__accepted(self) -> None:
        flat_c = {"key": "control", "n": 10, "sum": 50.0, "sum_squares": 250.0}

        schemas.AnalyzeRequest.model_validate(
            {"metric_type": "continuous", "variants": [flat_c, CONTINUOUS_T]}
        )

    def test_strata__keys_must_match_the_first_stratum(self) -> None:
        body = {
            "metric_type": "binary",
            "strata": [
                {"key": "desktop", "variants": [CONTROL, VARIANT]},
                {"key": "mobile", "variants": [CONTROL, {**VARIANT, "key": "other"}]},
            ],
        }

        assert ("strata", 1, "variants") in _locs(schemas.AnalyzeRequest, body)

    def test_both_variants_and_strata__rejected(self) -> None:
        body = {
            "metric_type": "binary",
            "variants": [CONTROL, VARIANT],
            "strata": [{"key": "s", "variants": [CONTROL, VARIANT]}],
        }

        assert ("variants",) in _locs(schemas.AnalyzeRequest, body)


class TestPlanningRequests:
    def test_calculate_seed_body__valid(self) -> None:
        req = schemas.CalculateRequest.model_validate(CALCULATE)

        assert isinstance(req, schemas.SampleSizeRequest)

    @pytest.mark.parametrize(
        ("change", "loc"),
        [
            ({"baseline_value": 1.5}, ("baseline_value",)),
            ({"baseline_value": 0.0}, ("baseline_value",)),
            ({"variants_count": 11, "traffic_split": None}, ("variants_count",)),
            ({"variants_count": 1, "traffic_split": None}, ("variants_count",)),
            ({"variants_count": 3}, ("traffic_split",)),
            ({"traffic_split": [50, 40]}, ("traffic_split",)),
            ({"mde_pct": 0}, ("mde_pct",)),
            ({"baseline_value": 0.6, "mde_pct": 80}, ("mde_pct",)),
            ({"metric_type": "continuous", "baseline_value": 10.0}, ("std_dev",)),
            ({"audience_share_in_test": 0}, ("audience_share_in_test",)),
            ({"power": 0.04}, ("power",)),
        ],
    )
    def test_invalid__error_located_at_field(
        self, change: dict[str, Any], loc: tuple[str | int, ...]
    ) -> None:
        assert loc in _locs(schemas.CalculateRequest, {**CALCULATE, **change})

    def test_sensitivity__needs_days_and_traffic(self) -> None:
        body = {
            k: v for k, v in CALCULATE.items() if k not in ("mde_pct", "expected_daily_traffic")
        }

        locs = _locs(schemas.SensitivityRequest, body)

        assert ("days",) in locs
        assert ("expected_daily_traffic",) in locs


class TestOtherRequests:
    def test_srm__weights_length_mismatch(self) -> None:
        assert ("weights",) in _locs(schemas.SrmRequest, {"observed": [10, 20], "weights": [1]})

    def test_srm__negative_count(self) -> None:
        assert ("observed", 1) in _locs(schemas.SrmRequest, {"observed": [10, -2]})

    def test_multiple_testing__p_value_above_one(self) -> None:
        assert ("p_values", 0) in _locs(
            schemas.MultipleTestingRequest, {"p_values": [1.2], "method": "holm"}
        )

    def test_bandit__too_much_work(self) -> None:
        body = {"true_rates": [0.1, 0.2], "steps": 1000, "batch_size": 10_000}

        assert ("batch_size",) in _locs(schemas.BanditSimulationRequest, body)

    def test_bandit__rate_outside_unit_interval(self) -> None:
        assert ("true_rates", 1) in _locs(
            schemas.BanditSimulationRequest, {"true_rates": [0.1, 1.2]}
        )
