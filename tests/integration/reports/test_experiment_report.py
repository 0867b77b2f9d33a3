"""An experiment's report in every format, read back by a real reader, shows the numbers of
the results API for the same snapshot; user text is escaped; the export is recorded."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tests.integration.design.factories import create_metric, create_project, post
from tests.support.servers import ApiClient

from .conftest import HOSTILE_NAME, Json, World
from .readers import (
    FIELDS,
    csv_rows,
    expected_rows,
    html_rows,
    in_order,
    md_rows,
    pdf_text,
    printed,
    printed_row,
    xlsx_sheet,
)


def report(world: World, fmt: str) -> bytes:
    r = world.api.get(world.path("/report"), params={"format": fmt})
    assert r.status_code == 200, r.text
    return r.content


def results(world: World) -> Json:
    r = world.api.get(world.path("/results"))
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


@pytest.fixture
def expected(world: World) -> list[Json]:
    rows = expected_rows(results(world))
    assert any(r["lift"] is not None for r in rows)
    assert any(r["adjusted_p_value"] is not None for r in rows)
    return rows


def test_html__numbers_of_the_results_api(world: World, expected: list[Json]) -> None:
    body = report(world, "html").decode()

    _, found = html_rows(body)

    assert {printed_row(row) for row in expected} <= found
    assert body.count("<svg") >= 2  # traffic chart and at least one lift chart
    assert "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_html__user_text_escaped(world: World) -> None:
    r = world.api.get(world.path("/report"), params={"format": "html"})
    body = r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")

    parser, _ = html_rows(body)

    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert "b" not in parser.tags
    assert "&lt;script&gt;" in body
    assert HOSTILE_NAME in "".join(parser.text)  # shown as text, verbatim


def test_markdown__numbers_and_escaped_text(world: World, expected: list[Json]) -> None:
    body = report(world, "md").decode()

    assert {printed_row(row) for row in expected} <= md_rows(body)
    assert "<script" not in body
    assert "<img" not in body
    assert "&lt;script&gt;" in body


def test_csv__one_row_per_metric_and_variant(world: World, expected: list[Json]) -> None:
    rows = [r for r in csv_rows(report(world, "csv").decode()) if not r["category"]]

    assert [(r["metric"], r["variant"], *(r[f] for f in FIELDS)) for r in rows] == [
        printed_row(row) for row in expected
    ]
    categories = [r for r in csv_rows(report(world, "csv").decode()) if r["category"]]
    assert {r["category"] for r in categories} >= {"free", "pro", "team"}


def test_xlsx__numbers_as_numbers(world: World, expected: list[Json]) -> None:
    body = report(world, "xlsx")

    rows = xlsx_sheet(body, "Metrics")

    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        assert (got["metric"], got["variant"]) == (want["metric"], want["variant"])
        for name in FIELDS:
            if want[name] is None:
                assert got[name] is None
            else:
                assert isinstance(got[name], int | float)
                assert got[name] == pytest.approx(want[name], rel=1e-12)
    overview = xlsx_sheet(body, "Overview")
    assert overview[0]["name"] == HOSTILE_NAME
    sheets = openpyxl.load_workbook(io.BytesIO(body)).sheetnames
    assert {"Design", "Plan", "Traffic", "Categories", "Chi-square", "Decision"} <= set(sheets)


def test_pdf__text_shows_every_row(world: World, expected: list[Json]) -> None:
    text = pdf_text(report(world, "pdf"))

    for row in expected:
        tokens = (row["variant"], *(printed(row[f]) for f in FIELDS))
        assert in_order(text, tokens), tokens


def test_categorical_section__chi_square_in_every_format(world: World) -> None:
    metric = next(m for m in results(world)["metrics"] if m["type"] == "categorical")
    chi = metric["kind"]["categorical"]["chi_square"]

    assert f"Chi-square {printed(chi['chi2'])}" in report(world, "html").decode()
    assert f"p-value {printed(chi['p_value'])}" in report(world, "md").decode()
    assert xlsx_sheet(report(world, "xlsx"), "Chi-square")[0]["chi2"] == pytest.approx(chi["chi2"])
    assert printed(chi["p_value"]) in pdf_text(report(world, "pdf"))


def test_export__recorded_with_audit_event(world: World) -> None:
    report(world, "csv")
    report(world, "pdf")

    r = world.api.get(world.api.org(f"/projects/{world.project_id}/history"),
                      params={"export_limit": 5})  # fmt: skip
    assert r.status_code == 200, r.text
    exports = r.json()["data"]["exports"]
    assert [e["format"] for e in exports[:2]] == ["pdf", "csv"]
    assert all(e["experiment_id"] == world.experiment["id"] for e in exports)
    assert exports[0]["snapshot_id"].startswith("res_")
    audit = world.api.get(world.api.org("/audit"), params={"action": "report.exported"})
    assert audit.status_code == 200, audit.text
    events = audit.json()["data"]
    assert len(events) == 2
    assert {e["diff"]["format"] for e in events} == {"csv", "pdf"}


def test_report__unknown_format_422_and_other_org_404(world: World) -> None:
    r = world.api.get(world.path("/report"), params={"format": "docx"})
    assert r.status_code == 422, r.text
    r = world.api.get(world.api.org("/experiments/exp_nope/report"))
    assert r.status_code == 404, r.text


def test_draft_without_data__every_format_renders(api: ApiClient) -> None:
    pid = create_project(api)["id"]
    metric = create_metric(api, pid, key="signup", event_name="signup")
    body = {"project_id": pid, "key": "draft", "name": "Draft",
            "variants": [{"key": "control", "weight": 50}, {"key": "b", "weight": 50}],
            "metrics": {"primary": [metric["id"]]}}  # fmt: skip
    experiment = post(api, "/experiments", body)

    for fmt in ("html", "md", "csv", "xlsx", "pdf"):
        r = api.get(api.org(f"/experiments/{experiment['id']}/report"), params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text)
    csv_body = api.get(api.org(f"/experiments/{experiment['id']}/report"),
                       params={"format": "csv"}).text  # fmt: skip
    rows = csv_rows(csv_body)
    assert [(r["variant"], r["units"], r["decision"]) for r in rows] == [
        ("control", "0", "keep_running"), ("b", "0", "keep_running"),
    ]  # fmt: skip
