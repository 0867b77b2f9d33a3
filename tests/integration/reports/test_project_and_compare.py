"""Project reports and history, and comparisons of experiments or projects."""

from __future__ import annotations

import pytest

from tests.support.servers import ApiClient

from .conftest import Json, make_world
from .readers import csv_rows, expected_rows, html_rows, md_rows, pdf_text, printed_row, xlsx_sheet


@pytest.fixture
def two(api: ApiClient) -> tuple[Json, Json, str]:
    first = make_world(api, key="alpha", name="Alpha", units=60, seed=1)
    second = make_world(api, key="beta", name="Beta", units=60, seed=2,
                        project_id=first.project_id,
                        analysis={"method": "frequentist", "alpha": 0.1, "cuped": False,
                                  "correction": "holm"})  # fmt: skip
    return first.experiment, second.experiment, first.project_id


def results(api: ApiClient, experiment_id: str) -> Json:
    r = api.get(api.org(f"/experiments/{experiment_id}/results"))
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def test_project_report__every_experiment_in_every_format(
    api: ApiClient, two: tuple[Json, Json, str]
) -> None:
    first, second, pid = two
    expected = [
        printed_row(row) for e in (first, second) for row in expected_rows(results(api, e["id"]))
    ]
    got = {}
    for fmt in ("html", "csv", "xlsx", "pdf"):
        r = api.get(api.org(f"/projects/{pid}/report"), params={"format": fmt})
        assert r.status_code == 200, r.text
        got[fmt] = r.content

    assert set(expected) <= html_rows(got["html"].decode())[1]
    rows = [r for r in csv_rows(got["csv"].decode()) if not r["category"]]
    assert {r["experiment"] for r in rows} == {"alpha", "beta"}
    assert len(rows) == len(expected)
    assert {r["experiment"] for r in xlsx_sheet(got["xlsx"], "Overview")} == {"alpha", "beta"}
    text = pdf_text(got["pdf"])
    assert "Alpha (alpha)" in text
    assert "Beta (beta)" in text


def test_project_report__md_not_offered_422(api: ApiClient, two: tuple[Json, Json, str]) -> None:
    r = api.get(api.org(f"/projects/{two[2]}/report"), params={"format": "md"})
    assert r.status_code == 422, r.text


def test_history__analyses_and_exports_newest_first_with_limits(
    api: ApiClient, two: tuple[Json, Json, str]
) -> None:
    first, second, pid = two
    results(api, first["id"])
    results(api, second["id"])
    for fmt in ("csv", "html", "xlsx"):
        assert (
            api.get(api.org(f"/projects/{pid}/report"), params={"format": fmt}).status_code == 200
        )

    r = api.get(api.org(f"/projects/{pid}/history"),
                params={"analysis_limit": 1, "export_limit": 2})  # fmt: skip

    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert len(data["analyses"]) == 1
    assert data["analyses"][0]["experiment_id"] in {first["id"], second["id"]}
    assert [e["format"] for e in data["exports"]] == ["xlsx", "html"]
    assert all(e["kind"] == "project" for e in data["exports"])
    everything = api.get(api.org(f"/projects/{pid}/history"), params={"analysis_limit": 100})
    assert {a["experiment_id"] for a in everything.json()["data"]["analyses"]} == {
        first["id"], second["id"],
    }  # fmt: skip


@pytest.mark.parametrize("params", [{"analysis_limit": 0}, {"export_limit": 101},
                                    {"analysis_limit": "x"}])  # fmt: skip
def test_history__bad_limits_422(api: ApiClient, two: tuple[Json, Json, str], params: Json) -> None:
    r = api.get(api.org(f"/projects/{two[2]}/history"), params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


def test_compare__design_differences_and_shared_results(
    api: ApiClient, two: tuple[Json, Json, str]
) -> None:
    first, second, _ = two
    body = {"experiment_ids": [first["id"], second["id"]]}

    r = api.post(api.org("/compare"), json=body)

    assert r.status_code == 200, r.text
    data = r.json()["data"]
    differences = {d["field"]: d["values"] for d in data["comparison"]["differences"]}
    assert differences["alpha"] == ["0.05", "0.1"]
    assert "primary metrics" in differences  # each experiment has its own metrics
    assert "traffic percent" not in differences
    assert [e["key"] for e in data["experiments"]] == ["alpha", "beta"]
    lifts = {
        (e["key"], m["key"], row["variant"]): row["lift"]
        for e in data["experiments"] for m in e["metrics"] for row in m["rows"]
    }  # fmt: skip
    for experiment in (first, second):
        for row in expected_rows(results(api, experiment["id"])):
            got = lifts[(experiment["key"], row["metric"], row["variant"])]
            assert got == (None if row["lift"] is None else pytest.approx(row["lift"]))
    html = api.post(api.org("/compare"), params={"format": "html"}, json=body)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "Design differences" in html.text
    md = api.post(api.org("/compare"), params={"format": "md"}, json=body)
    expected = {
        printed_row(r) for e in (first, second) for r in expected_rows(results(api, e["id"]))
    }
    assert expected <= md_rows(md.text)


def test_compare__shared_metrics_across_projects(api: ApiClient) -> None:
    one = make_world(api, key="gamma", name="Gamma", units=40, seed=3)
    other = make_world(api, key="gamma", name="Gamma again", units=40, seed=4)

    r = api.post(api.org("/compare"), json={"project_ids": [one.project_id, other.project_id]})

    assert r.status_code == 200, r.text
    comparison = r.json()["data"]["comparison"]
    assert comparison["shared_metrics"] == [
        "gamma_conversion", "gamma_revenue", "gamma_plan", "gamma_errors",
    ]  # fmt: skip
    assert {d["field"] for d in comparison["differences"]} >= {"project"}
    shared = {(x["metric"], x["experiment"], x["row"]["variant"]) for x in comparison["results"]}
    assert ("gamma_conversion", "gamma", "treatment_b") in shared
    assert len(comparison["results"]) == 4 * 2 * 3  # metrics x experiments x variants


@pytest.mark.parametrize(
    "body",
    [{}, {"experiment_ids": ["exp_x"], "project_ids": ["prj_x"]}, {"experiment_ids": "exp_x"},
     {"experiment_ids": ["x"] * 21}],
)  # fmt: skip
def test_compare__bad_body_422(api: ApiClient, body: Json) -> None:
    r = api.post(api.org("/compare"), json=body)
    assert r.status_code == 422, r.text


def test_compare__one_experiment_400_and_unknown_404(api: ApiClient) -> None:
    world = make_world(api, key="solo", name="Solo", units=20)

    one = api.post(api.org("/compare"), json={"experiment_ids": [world.experiment["id"]]})
    unknown = api.post(
        api.org("/compare"), json={"experiment_ids": [world.experiment["id"], "exp_nope"]}
    )

    assert one.status_code == 400, one.text
    assert one.json()["error"]["code"] == "invalid_comparison"
    assert unknown.status_code == 404, unknown.text
