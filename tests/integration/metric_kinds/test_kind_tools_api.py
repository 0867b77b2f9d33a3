"""The per-unit tools over HTTP: answers against scipy/numpy on the same data, and 422s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from avsb.stats.quantile import rank_bounds
from tests.support.servers import ApiClient

RNG = np.random.default_rng(21)
CONTROL = np.round(RNG.lognormal(1.0, 1.0, size=400), 2)
TREATMENT = np.round(RNG.lognormal(1.2, 1.0, size=380), 2)
VARIANTS = [
    {"key": "control", "values": CONTROL.tolist()},
    {"key": "treatment", "values": TREATMENT.tolist()},
]


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


def test_quantile__numpy_quantile_and_order_statistics(api: ApiClient) -> None:
    body = {"quantile": 0.9, "difference_type": "absolute", "variants": VARIANTS}
    data = _data(api, "/api/tools/quantile", body)

    control, treatment = data["variants"]
    assert control["quantile"] == pytest.approx(np.quantile(CONTROL, 0.9))
    low, high = rank_bounds(CONTROL.size, 0.9)
    assert control["ci"] == pytest.approx([np.sort(CONTROL)[low - 1], np.sort(CONTROL)[high - 1]])
    (cmp,) = data["comparisons"]
    diff = np.quantile(TREATMENT, 0.9) - np.quantile(CONTROL, 0.9)
    se = np.hypot(control["standard_error"], treatment["standard_error"])
    assert cmp["estimate"] == pytest.approx(diff)
    assert cmp["p_value"] == pytest.approx(2 * sps.norm.sf(abs(diff) / se))
    assert cmp["test"] == "quantile_normal"


def test_rank_test__matches_scipy_mannwhitneyu(api: ApiClient) -> None:
    data = _data(api, "/api/tools/rank-test", {"variants": VARIANTS})

    (cmp,) = data["comparisons"]
    theirs = sps.mannwhitneyu(TREATMENT, CONTROL, method="asymptotic")
    assert cmp["u_statistic"] == pytest.approx(theirs.statistic)
    assert cmp["p_value"] == pytest.approx(theirs.pvalue, rel=1e-9)
    assert cmp["method"] == "asymptotic"
    assert cmp["probability_of_superiority"] == pytest.approx(
        theirs.statistic / (CONTROL.size * TREATMENT.size)
    )


def test_rank_test__small_samples_exact(api: ApiClient) -> None:
    body = {"variants": [{"key": "c", "values": [1.1, 2.5, 0.3, 4.0]},
                         {"key": "t", "values": [5.2, 3.3, 6.1, 7.0, 2.2]}]}  # fmt: skip
    (cmp,) = _data(api, "/api/tools/rank-test", body)["comparisons"]
    theirs = sps.mannwhitneyu([5.2, 3.3, 6.1, 7.0, 2.2], [1.1, 2.5, 0.3, 4.0], method="exact")
    assert cmp["method"] == "exact"
    assert cmp["p_value"] == pytest.approx(theirs.pvalue)


def test_bootstrap__close_to_scipy_and_seeded(api: ApiClient) -> None:
    body = {"variants": VARIANTS, "resamples": 10_000, "method": "percentile", "seed": 3}
    first = _data(api, "/api/tools/bootstrap", body)
    again = _data(api, "/api/tools/bootstrap", body)

    assert first == again
    (cmp,) = first["comparisons"]
    theirs = sps.bootstrap(
        (TREATMENT, CONTROL), lambda t, c, axis=-1: np.mean(t, axis=axis) - np.mean(c, axis=axis),
        n_resamples=10_000, method="percentile", rng=np.random.default_rng(0),
    )  # fmt: skip
    se = theirs.standard_error
    assert cmp["estimate"] == pytest.approx(TREATMENT.mean() - CONTROL.mean())
    assert cmp["ci"][0] == pytest.approx(theirs.confidence_interval.low, abs=0.1 * se)
    assert cmp["ci"][1] == pytest.approx(theirs.confidence_interval.high, abs=0.1 * se)


def test_categorical__matches_chi2_contingency(api: ApiClient) -> None:
    table = [[500, 300, 200], [450, 360, 190]]
    body = {
        "categories": ["free", "pro", "team"],
        "variants": [{"key": "control", "counts": table[0]}, {"key": "b", "counts": table[1]}],
    }
    data = _data(api, "/api/tools/categorical", body)

    chi2, p, dof, _ = sps.chi2_contingency(table, correction=False)
    assert data["chi_square"]["chi2"] == pytest.approx(chi2)
    assert data["chi_square"]["p_value"] == pytest.approx(p)
    assert data["chi_square"]["df"] == dof
    pro = data["comparisons"][0]["lifts"][1]
    assert pro["category"] == "pro"
    assert pro["difference"] == pytest.approx(0.06)
    assert pro["relative_lift"] == pytest.approx(0.2)
    assert data["variants"][1]["shares"] == pytest.approx([0.45, 0.36, 0.19])


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/tools/quantile", {"quantile": 1.5, "variants": VARIANTS}, "quantile"),
        ("/api/tools/quantile", {"variants": VARIANTS[:1]}, "variants"),
        ("/api/tools/quantile", {"variants": VARIANTS, "alpha": 1e-45}, "alpha"),
        ("/api/tools/bootstrap", {"variants": VARIANTS, "alpha": 1e-45}, "alpha"),
        ("/api/tools/quantile",
         {"variants": [{"key": "a", "values": [1.0]}, {"key": "b", "values": [1.0, 2.0]}]},
         "variants.0.values"),
        ("/api/tools/quantile",
         {"variants": [{"key": "a", "values": [0.0, 0.0, 0.0]},
                       {"key": "b", "values": [0.0, 0.0]}]},
         "variants.1.values"),
        ("/api/tools/rank-test",
         {"variants": [{"key": "a", "values": [1.0, 1.0]}, {"key": "b", "values": [1.0, 1.0]}]},
         "variants.1"),
        ("/api/tools/rank-test",
         {"variants": [{"key": "a", "values": [1.0, 2.0]}, {"key": "a", "values": [1.0, 3.0]}]},
         "variants.1.key"),
        ("/api/tools/rank-test", {"variants": VARIANTS, "method": "exact"}, "variants.1.method"),
        ("/api/tools/bootstrap", {"variants": VARIANTS, "resamples": 5}, "resamples"),
        ("/api/tools/bootstrap",
         {"variants": [{"key": "a", "values": [0.0, 0.0]}, {"key": "b", "values": [1.0, 2.0]}],
          "difference_type": "relative"},
         "variants.0.values"),
        ("/api/tools/quantile",
         {"variants": [{"key": "a", "values": [0.0, 0.0, 0.0, 1.0]},
                       {"key": "b", "values": [1.0, 2.0, 3.0]}]},
         "variants.0.values"),
        ("/api/tools/categorical",
         {"categories": ["a", "b"], "variants": [{"key": "c", "counts": [1]},
                                                 {"key": "t", "counts": [1, 2]}]},
         "variants.0.counts"),
        ("/api/tools/categorical",
         {"categories": ["a", "b"], "variants": [{"key": "c", "counts": [0, 0]},
                                                 {"key": "t", "counts": [1, 2]}]},
         "variants.0.counts"),
        ("/api/tools/categorical",
         {"categories": ["a", "a"], "variants": [{"key": "c", "counts": [1, 1]},
                                                 {"key": "t", "counts": [1, 2]}]},
         "categories"),
    ],
)  # fmt: skip
def test_bad_input__422_names_the_field(
    api: ApiClient, path: str, body: dict[str, object], field: str
) -> None:
    error = _error(api, path, body)
    paths = [f["path"] for f in error["details"]["fields"]]
    assert field in paths, paths


def test_too_many_values__422(api: ApiClient) -> None:
    big = {"key": "b", "values": [1.0] * 100_001}
    error = _error(api, "/api/tools/rank-test", {"variants": [VARIANTS[0], big]})
    assert "variants.1.values" in [f["path"] for f in error["details"]["fields"]]


def test_bootstrap_too_much_work__422(api: ApiClient) -> None:
    many = [{"key": k, "values": [1.0, 2.0] * 2_000} for k in ("a", "b", "c", "d")]
    error = _error(api, "/api/tools/bootstrap", {"variants": many, "resamples": 20_000})
    assert "resamples" in [f["path"] for f in error["details"]["fields"]]


def test_overflowing_relative_effect__422(api: ApiClient) -> None:
    body = {"variants": [{"key": "a", "values": [1e-300, 2e-300, 1e-300]},
                         {"key": "b", "values": [1e15, 9e14, 8e14]}],
            "difference_type": "relative"}  # fmt: skip
    for path in ("/api/tools/quantile", "/api/tools/bootstrap"):
        error = _error(api, path, body)
        assert "overflows" in error["message"], error
    big = {"variants": [{"key": "a", "values": [1e16, 1.0]}, {"key": "b", "values": [1.0, 2.0]}]}
    _error(api, "/api/tools/rank-test", big)


def test_nan_value__422(api: ApiClient) -> None:
    r = api.post(
        "/api/tools/quantile",
        content=b'{"variants": [{"key": "a", "values": [1.0, NaN]}, '
        b'{"key": "b", "values": [1, 2]}]}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["code"] in ("validation_error", "invalid_json", "bad_request")
