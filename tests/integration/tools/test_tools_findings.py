"""Issue #11's statistics findings, each pinned through the HTTP API (POST /api/tools/*)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from tests.support.servers import ApiClient


def _data(api: ApiClient, path: str, body: Mapping[str, object]) -> Any:
    r = api.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _error(api: ApiClient, path: str, body: Mapping[str, object]) -> dict[str, Any]:
    r = api.post(path, json=body)
    assert r.status_code == 422, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == "validation_error"
    return error


def _continuous(mean: float, sd: float, n: int) -> dict[str, float]:
    return {"n": n, "sum": mean * n, "sum_squares": n * mean * mean + (n - 1) * sd * sd}


NEGATIVE = [
    {"key": "control", **_continuous(-4.95, 2.0, 1000)},
    {"key": "treatment", **_continuous(-4.00, 2.0, 1000)},
]


@pytest.mark.parametrize("method", ["frequentist", "bayesian", "sequential"])
def test_finding1__negative_control_mean__absolute_answer_never_inverted(
    api: ApiClient, method: str
) -> None:
    body = {"metric_type": "continuous", "method": method, "variants": NEGATIVE}

    (cmp,) = _data(api, "/api/tools/analyze", body)["comparisons"]

    assert cmp["difference_type"] == "absolute"
    assert cmp["estimate"] == pytest.approx(0.95, rel=1e-9)
    assert cmp["significant"]
    assert cmp["ci"][0] > 0
    assert any("positive control mean" in note for note in cmp["notes"])
    if method == "bayesian":
        assert cmp["chance_to_win"] > 0.99


def test_finding2__p_value_does_not_depend_on_difference_type(api: ApiClient) -> None:
    variants = [{"key": "c", "n": 200, "sum": 20}, {"key": "t", "n": 200, "sum": 26}]
    p_values = {}
    for kind in ("relative", "absolute"):
        body = {"metric_type": "binary", "difference_type": kind, "variants": variants}
        p_values[kind] = _data(api, "/api/tools/analyze", body)["comparisons"][0]["p_value"]

    assert p_values["relative"] == p_values["absolute"]
    welch = sps.ttest_ind_from_stats(0.13, np.sqrt(0.13 * 0.87), 200, 0.1, 0.3, 200, False)
    assert p_values["absolute"] == pytest.approx(welch.pvalue, rel=1e-9)


def test_finding2__relative_interval_is_fieller_and_agrees_with_the_test(api: ApiClient) -> None:
    variants = [{"key": "c", "n": 10000, "sum": 1000}, {"key": "t", "n": 10000, "sum": 1100}]
    body = {"metric_type": "binary", "variants": variants}

    (cmp,) = _data(api, "/api/tools/analyze", body)["comparisons"]

    vc, vt = 0.09 / 10000, 0.11 * 0.89 / 10000
    df = (vt + vc) ** 2 / (vt**2 / 9999 + vc**2 / 9999)
    t = sps.t.ppf(0.975, df)
    roots = np.sort(np.roots([0.01 - t * t * vc, -2 * 0.11 * 0.1, 0.0121 - t * t * vt]))
    assert cmp["ci"] == pytest.approx(list(roots - 1), rel=1e-9)
    assert cmp["significant"] == (cmp["ci"][0] > 0) == (cmp["p_value"] < 0.05)


def test_finding3__plan_and_analysis_use_the_same_test(api: ApiClient) -> None:
    plan = _data(
        api,
        "/api/tools/sample-size",
        {"metric_type": "binary", "baseline_value": 0.1, "mde_pct": 20, "power": 0.8},
    )
    n = plan["sample_size_per_variant"][0]
    # At exactly the planned effect, the analysis's Welch z equals the plan's noncentrality:
    # the p-value of the observed planned effect is the one the plan assumed.
    variants = [{"key": "c", "n": n, "sum": 0.1 * n}, {"key": "t", "n": n, "sum": 0.12 * n}]
    for kind in ("relative", "absolute"):
        body = {"metric_type": "binary", "difference_type": kind, "variants": variants}
        p = _data(api, "/api/tools/analyze", body)["comparisons"][0]["p_value"]
        z = sps.norm.ppf(1 - p / 2)
        assert z == pytest.approx(sps.norm.ppf(0.975) + sps.norm.ppf(0.8), abs=0.01)
    assert "Welch" in plan["method"] or "unpooled" in plan["method"]


def test_finding4__bayesian_binary_uses_exact_beta_posteriors(api: ApiClient) -> None:
    variants = [{"key": "c", "n": 300, "sum": 15}, {"key": "t", "n": 300, "sum": 27}]
    body = {"metric_type": "binary", "method": "bayesian", "variants": variants}

    (cmp,) = _data(api, "/api/tools/analyze", body)["comparisons"]

    rng = np.random.default_rng(4)
    draws = rng.beta(28, 274, 2_000_000) > rng.beta(16, 286, 2_000_000)
    assert cmp["test"] == "beta_binomial"
    assert cmp["chance_to_win"] == pytest.approx(float(np.mean(draws)), abs=1e-3)
    assert cmp["chance_to_win"] == pytest.approx(0.972, abs=1e-3)


def test_finding6__exact_test_rule_is_symmetric_under_relabelling(api: ApiClient) -> None:
    low = [{"key": "c", "n": 100, "sum": 0}, {"key": "t", "n": 100, "sum": 3}]
    high = [{"key": "c", "n": 100, "sum": 100}, {"key": "t", "n": 100, "sum": 97}]

    answers = [
        _data(api, "/api/tools/analyze", {"metric_type": "binary", "variants": v})["comparisons"][0]
        for v in (low, high)
    ]

    assert [a["test"] for a in answers] == ["fisher_exact", "fisher_exact"]
    assert answers[0]["p_value"] == pytest.approx(answers[1]["p_value"], rel=1e-12)
    assert answers[0]["p_value"] == pytest.approx(0.2462, abs=1e-4)
    assert answers[0]["estimate"] == pytest.approx(-answers[1]["estimate"])


HUGE = {"n": 10**10, "sum": 1e155, "sum_squares": 1e301}


@pytest.mark.parametrize("method", ["frequentist", "bayesian", "sequential"])
def test_finding7__sums_whose_square_overflows__answer_not_500(api: ApiClient, method: str) -> None:
    variants = [
        {"key": "c", **HUGE},
        {"key": "t", "n": 10**10, "sum": 1.01e155, "sum_squares": 1e301},
    ]
    body = {"metric_type": "continuous", "method": method, "variants": variants}

    (cmp,) = _data(api, "/api/tools/analyze", body)["comparisons"]

    assert cmp["estimate"] == pytest.approx(0.01, rel=1e-6)
    assert 0 < (cmp["p_value"] if cmp["p_value"] is not None else cmp["chance_to_win"]) <= 1


def test_finding7__sums_beyond_double_range_of_squares__clear_422(api: ApiClient) -> None:
    variants = [
        {"key": "c", "n": 3, "sum": 1e200, "sum_squares": 1.7e308},
        {"key": "t", "n": 3, "sum": 1e200, "sum_squares": 1.7e308},
    ]
    body = {"metric_type": "continuous", "variants": variants}

    error = _error(api, "/api/tools/analyze", body)

    assert "variants.0.sum_squares" in error["message"] or error["details"]


@pytest.mark.parametrize("sd", [1e155, 1e-160, 1e300])
def test_finding7__absurd_prior_sd__clear_422_naming_prior_sd(api: ApiClient, sd: float) -> None:
    body = {
        "metric_type": "continuous",
        "method": "bayesian",
        "prior": {"mean": 0.0, "sd": sd},
        "variants": [
            {"key": "c", **_continuous(10.0, 2.0, 100)},
            {"key": "t", **_continuous(10.0, 2.0, 100)},
        ],
    }

    error = _error(api, "/api/tools/analyze", body)

    assert "prior.sd" in error["message"]


def test_finding7__narrowest_allowed_prior__zero_estimate_is_a_coin_flip(api: ApiClient) -> None:
    body = {
        "metric_type": "continuous",
        "method": "bayesian",
        "prior": {"mean": 0.0, "sd": 1e-6},
        "variants": [
            {"key": "c", **_continuous(10.0, 2.0, 100)},
            {"key": "t", **_continuous(10.0, 2.0, 100)},
        ],
    }

    (cmp,) = _data(api, "/api/tools/analyze", body)["comparisons"]

    assert cmp["chance_to_win"] == pytest.approx(0.5)
    assert not cmp["significant"]


def test_finding7__srm_weights_summing_past_double_range__answer(api: ApiClient) -> None:
    body = {"observed": [5000, 5100], "weights": [1.7e308, 1.7e308]}

    data = _data(api, "/api/tools/srm", body)

    assert data["expected"] == pytest.approx([5050, 5050])
    assert not data["srm_detected"]


def test_finding7__srm_weights_absurdly_far_apart__clear_422(api: ApiClient) -> None:
    error = _error(api, "/api/tools/srm", {"observed": [5, 5], "weights": [5e-324, 1]})

    assert "weights" in error["message"]


def test_finding7__analyze_srm_weights_past_double_range__answer(api: ApiClient) -> None:
    body = {
        "metric_type": "binary",
        "weights": [1.7e308, 1.7e308],
        "variants": [{"key": "c", "n": 1000, "sum": 100}, {"key": "t", "n": 1000, "sum": 110}],
    }

    data = _data(api, "/api/tools/analyze", body)

    assert not data["srm"]["srm_detected"]


def test_finding7__bandit_ties_are_broken_at_random(api: ApiClient) -> None:
    # Posteriors piled at 0 make every draw exactly 0.0: each step is a tie between the arms.
    body = {
        "true_rates": [0.0, 0.0],
        "steps": 10,
        "batch_size": 1000,
        "prior_alpha": 1e-300,
        "prior_beta": 1.0,
        "seed": 3,
    }

    first = _data(api, "/api/tools/bandit-simulation", body)
    again = _data(api, "/api/tools/bandit-simulation", body)

    assert first == again  # seeded
    share = first["pulls"][1] / sum(first["pulls"])
    assert 0.45 < share < 0.55


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tools/analyze", {"metric_type": "continuous", "variants": [
            {"key": "c", "n": 10**20, "sum": 1, "sum_squares": 1},
            {"key": "t", "n": 2, "sum": 1, "sum_squares": 1}]}),
        ("/api/tools/analyze", {"metric_type": "ratio", "variants": [
            {"key": "c", "n": 1000, "numerator_sum": 1, "numerator_sum_squares": 1,
             "denominator_sum": 5e-324, "denominator_sum_squares": 1},
            {"key": "t", "n": 1000, "numerator_sum": 1, "numerator_sum_squares": 1,
             "denominator_sum": 1, "denominator_sum_squares": 1}]}),
        ("/api/tools/analyze", {"metric_type": "continuous", "sequential_tuning_parameter": 1e-300,
            "method": "sequential", "variants": [
            {"key": "c", "n": 100, "sum": 100, "sum_squares": 500},
            {"key": "t", "n": 100, "sum": 110, "sum_squares": 500}]}),
        ("/api/tools/srm", {"observed": [10**20, 5]}),
        ("/api/tools/sample-size", {"metric_type": "continuous", "baseline_value": 1e-300,
            "std_dev": 1e300, "mde_pct": 1e-300}),
        ("/api/v1/calculate", {"metric_type": "binary", "baseline_value": 5e-324, "mde_pct": 5}),
        ("/api/tools/sensitivity", {"metric_type": "binary", "baseline_value": 0.1,
            "expected_daily_traffic": 1.7e308, "days": 3650}),
        ("/api/tools/multiple-testing", {"p_values": [5e-324, 2], "method": "holm"}),
    ],
)  # fmt: skip
def test_finding7__extreme_finite_input__422_never_500(
    api: ApiClient, path: str, body: Mapping[str, object]
) -> None:
    _error(api, path, body)


def test_finding3__calculate_and_sensitivity_size_the_same_test(api: ApiClient) -> None:
    body = {
        "metric_type": "binary",
        "baseline_value": 0.042,
        "mde_pct": 5,
        "expected_daily_traffic": 12000,
        "audience_share_in_test": 0.6,
    }
    plan = _data(api, "/api/v1/calculate", body)
    days = plan["total_sample_size"] / (12000 * 0.6)
    sensitivity_body = {k: v for k, v in body.items() if k != "mde_pct"} | {"days": days}

    found = _data(api, "/api/tools/sensitivity", sensitivity_body)

    assert plan["sample_size_per_variant"] == [146639, 146639]
    assert found["mde_pct"] == pytest.approx(5, rel=1e-4)
