"""The stateless tools over HTTP: contract shapes, seed body, 422 field paths, auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from scipy import stats as sps

from tests.support.servers import ApiClient, LiveServer


def _data(api: ApiClient, path: str, body: Mapping[str, object]) -> Any:
    r = api.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_analyze__binary_relative__contract_fields(api: ApiClient) -> None:
    body = {
        "metric_type": "binary",
        "variants": [
            {"key": "control", "n": 10000, "sum": 1000},
            {"key": "treatment", "n": 10000, "sum": 1100},
        ],
    }
    data = _data(api, "/api/tools/analyze", body)
    (cmp,) = data["comparisons"]
    for field in ("variant", "estimate", "standard_error", "ci", "p_value", "adjusted_p_value",
                  "chance_to_win", "risk_control", "risk_variant", "significant"):  # fmt: skip
        assert field in cmp
    assert cmp["variant"] == "treatment"
    assert cmp["estimate"] == pytest.approx(0.1, rel=1e-9)
    assert cmp["chance_to_win"] is None  # frequentist: Bayesian fields are null
    assert set(data["srm"]) >= {"p_value", "srm_detected"}


def test_analyze__continuous_absolute__matches_scipy_welch(api: ApiClient) -> None:
    n1, s1, ss1 = 500, 5000.0, 5000.0 * 10 + 499 * 4.0
    n2, s2, ss2 = 600, 6300.0, 6300.0 * 10.5 + 599 * 9.0
    body = {
        "metric_type": "continuous",
        "difference_type": "absolute",
        "variants": [
            {"key": "a", "n": n1, "sum": s1, "sum_squares": ss1},
            {"key": "b", "n": n2, "sum": s2, "sum_squares": ss2},
        ],
    }
    cmp = _data(api, "/api/tools/analyze", body)["comparisons"][0]
    expected = sps.ttest_ind_from_stats(10.5, 3.0, n2, 10.0, 2.0, n1, equal_var=False)
    assert cmp["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    assert cmp["ci"][0] < 0.5 < cmp["ci"][1]


def test_analyze__one_sided__open_end_null(api: ApiClient) -> None:
    body = {
        "metric_type": "binary",
        "two_sided": False,
        "variants": [{"key": "c", "n": 5000, "sum": 500}, {"key": "t", "n": 5000, "sum": 560}],
    }
    ci = _data(api, "/api/tools/analyze", body)["comparisons"][0]["ci"]
    assert ci[1] is None
    assert ci[0] is not None


def test_calculate__seed_body_as_is(api: ApiClient) -> None:
    body = {
        "metric_type": "binary", "baseline_value": 0.042, "mde_pct": 5, "alpha": 0.05,
        "power": 0.8, "expected_daily_traffic": 12000, "audience_share_in_test": 0.6,
        "traffic_split": [50, 50], "variants_count": 2,
    }  # fmt: skip
    data = _data(api, "/api/v1/calculate", body)
    per_variant = data["sample_size_per_variant"]
    assert isinstance(per_variant, list)
    assert len(per_variant) == 2
    assert data["total_sample_size"] == sum(per_variant)
    days = data["estimated_duration_days"]
    assert days == pytest.approx(data["total_sample_size"] / (12000 * 0.6), abs=1)
    assert (
        _data(api, "/api/tools/sample-size", body)["total_sample_size"] == data["total_sample_size"]
    )


def test_srm__detects_imbalance(api: ApiClient) -> None:
    data = _data(api, "/api/tools/srm", {"observed": [5000, 5400], "weights": [50, 50]})
    expected = sps.chisquare([5000, 5400])
    assert data["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    assert data["srm_detected"] is True


def test_multiple_testing__holm(api: ApiClient) -> None:
    data = _data(
        api, "/api/tools/multiple-testing", {"p_values": [0.01, 0.04, 0.03], "method": "holm"}
    )
    assert data["adjusted_p_values"] == pytest.approx([0.03, 0.06, 0.06])
    assert data["reject"] == [True, False, False]


def test_sensitivity_and_bandit(api: ApiClient) -> None:
    sens = _data(
        api,
        "/api/tools/sensitivity",
        {
            "metric_type": "binary",
            "baseline_value": 0.1,
            "expected_daily_traffic": 1000,
            "days": 14,
        },
    )
    assert sens
    bandit = _data(
        api,
        "/api/tools/bandit-simulation",
        {"true_rates": [0.05, 0.07], "steps": 20, "batch_size": 50, "seed": 1},
    )
    assert bandit["best_arm"] == 1
    assert len(bandit["cumulative_regret"]) == 20


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"metric_type": "binary", "baseline_value": 1.5, "mde_pct": 5}, "baseline_value"),
        ({"metric_type": "binary", "baseline_value": 0.1, "mde_pct": 5, "variants_count": 11},
         "variants_count"),
        ({"metric_type": "binary", "baseline_value": 0.1, "mde_pct": 5, "variants_count": 3,
          "traffic_split": [50, 50]}, "traffic_split"),
        ({"metric_type": "binary", "baseline_value": False, "mde_pct": 5}, "baseline_value"),
    ],
)  # fmt: skip
def test_calculate__impossible_input__422_with_path(
    api: ApiClient, body: dict[str, object], path: str
) -> None:
    r = api.post("/api/v1/calculate", json=body)
    assert r.status_code == 422, r.text
    paths = [f["path"] for f in r.json()["error"]["details"]["fields"]]
    assert any(p.startswith(path) for p in paths), paths


def test_analyze__n_below_2_and_zero_variance__422(api: ApiClient) -> None:
    r = api.post(
        "/api/tools/analyze",
        json={"metric_type": "binary", "variants": [{"key": "a", "n": 1, "sum": 0},
                                                     {"key": "b", "n": 10, "sum": 1}]},
    )  # fmt: skip
    assert r.status_code == 422
    r = api.post(
        "/api/tools/analyze",
        json={"metric_type": "continuous", "variants": [
            {"key": "a", "n": 10, "sum": 10, "sum_squares": 10},
            {"key": "b", "n": 10, "sum": 20, "sum_squares": 40}]},
    )  # fmt: skip
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


def test_tools__need_a_token(live_server: LiveServer) -> None:
    with live_server.client() as anon:
        assert anon.post("/api/tools/srm", json={"observed": [1, 2]}).status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tools/sample-size", {"metric_type": "binary", "baseline_value": 5e-324,
                                    "mde_pct": 3400.0}),
        ("/api/tools/srm", {"observed": [96174, 6183198, 1912931, 23440], "sequential": True,
                            "weights": [1.1e189, 3.2e16, 1.5e308, 1.3e-209]}),
        ("/api/v1/calculate", {"metric_type": "binary", "baseline_value": 0.1, "mde_pct": 5,
                               "expected_daily_traffic": 5e-324}),
        ("/api/tools/sensitivity", {"metric_type": "binary", "baseline_value": 0.157,
                                    "days": 968.4, "expected_daily_traffic": 1.79e308}),
        ("/api/tools/sensitivity", {"metric_type": "continuous", "baseline_value": 4.9e16,
                                    "std_dev": 6.3e16, "alpha": 2.2e-308, "days": 891.9,
                                    "expected_daily_traffic": 0.5}),
    ],
)  # fmt: skip
def test_extreme_inputs__422_not_500(api: ApiClient, path: str, body: dict[str, object]) -> None:
    r = api.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
