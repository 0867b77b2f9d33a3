"""The results page (snapshot, age, refresh, decision, lifts equal to the API's, SRM banner,
exports, stop, escaping), the tools page and the evaluation preview, over HTTP with a
signed-in person's cookie."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select

from avsb.server.dashboard.views import results_view as rv
from avsb.server.db import Database
from avsb.server.models import ResultsSnapshot
from avsb.server.tools.schemas import ComparisonResult
from tests.integration.dashboard.conftest import XSS, Team, hidden, main_of
from tests.integration.design.factories import act, create_flag, create_metric, post
from tests.integration.evaluation_api.support import bearer, create_sdk_key, settle
from tests.integration.results.test_results_api import make_lab, population
from tests.support.servers import ApiClient, LiveServer

Json = dict[str, Any]


def api_client(server: LiveServer, org_id: str) -> ApiClient:
    """A ``*`` service token of ``org_id`` as the design factories' client."""
    with server.admin() as admin:
        r = admin.post(f"/api/orgs/{org_id}/tokens", json={"name": "setup", "scopes": ["*"]})
        assert r.status_code == 201, r.text
    token = r.json()["data"]["token"]
    client = ApiClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                       timeout=60.0)  # fmt: skip
    client.org_id, client.token, client.server = org_id, token, server
    return client


@pytest.fixture
def api(dash_server: LiveServer, team: Team) -> Iterator[ApiClient]:
    with api_client(dash_server, team.org_id) as client:
        yield client


@dataclass
class Page:
    team: Team
    experiment_id: str

    @property
    def url(self) -> str:
        return self.team.url(f"/experiments/{self.experiment_id}/results")

    def get(self, role: str = "viewer", **params: str) -> str:
        r = self.team[role].get(self.url, params=params)
        assert r.status_code == 200, r.text[:2000]
        return r.text

    def refresh(self, role: str = "viewer", segment: str = "") -> None:
        r = self.team[role].post_form(self.url + "/refresh", {"segment": segment})
        assert r.status_code == 303, r.text[:2000]


def cell(html: str, variant: str, css: str) -> str:
    found = re.search(
        rf'<tr data-variant="{re.escape(variant)}">.*?<td class="{css}">(.*?)</td>', html, re.S
    )
    assert found, f"no {css} cell for {variant}"
    return html_lib.unescape(found.group(1))


def conversion(data: Json) -> Json:
    found: Json = next(m for m in data["metrics"] if m["key"] == "conversion")
    return found


def test_no_snapshot__says_so__refresh_computes_it(
    api: ApiClient, team: Team, database: Database
) -> None:
    lab = make_lab(api)
    lab.send(population("exp", 200, (0.1, 0.2)))
    page = Page(team, lab.experiment["id"])

    before = main_of(page.get())
    page.refresh()
    after = main_of(page.get())

    assert "never: refresh to compute them" in before
    assert "just now" in after
    assert "No results stored yet" not in after
    assert "Cumulative lift of" in after
    assert len(lab.api.get(lab.path("/results/history")).json()["data"]) == 1
    with database.transaction() as session:  # the page read its series from the snapshot
        stored = session.scalars(
            select(ResultsSnapshot).where(ResultsSnapshot.experiment_id == lab.experiment["id"])
        ).one()
        assert stored.series is not None
        assert [m["key"] for m in stored.series["metrics"]] == ["conversion", "errors"]


def test_lift_interval_and_decision__equal_to_the_api(api: ApiClient, team: Team) -> None:
    lab = make_lab(api)
    lab.send(population("exp", 400, (0.1, 0.2)))
    data = lab.results()  # computes and stores the snapshot the page reads
    page = main_of(Page(team, lab.experiment["id"]).get())
    c = ComparisonResult.model_validate(conversion(data)["comparisons"][0])
    means = {v["key"]: v["mean"] for v in conversion(data)["variants"]}

    assert cell(page, "treatment", "interval") == rv.interval_text(c)
    assert cell(page, "treatment", "lift") == rv.percent(
        means["treatment"] / means["control"] - 1, signed=True
    )
    decision = data["decision"]
    assert decision is not None
    label = re.search(r'<span id="decision"[^>]*>(.*?)</span>', page)
    assert label is not None
    expected = {"ship": f"Ship {decision['variant']}", "no_ship": "Do not ship",
                "keep_running": "Keep running"}[decision["decision"]]  # fmt: skip
    assert label.group(1) == expected
    for reason in decision["reasons"]:
        assert str(escape(reason["message"])) in page
    assert '<svg class="chart lift-bar"' in page  # the interval drawn against zero
    assert "Cumulative lift of" in page  # lift over time, from the series
    assert "Units first exposed per variant and day" in page


def test_snapshot_age__from_the_stored_time(api: ApiClient, team: Team) -> None:
    lab = make_lab(api)
    lab.send(population("exp", 100, (0.1, 0.2)))
    computed = lab.results()["computed_at"]

    page = Page(team, lab.experiment["id"]).get()

    assert computed[:16].replace("T", " ") in page  # YYYY-MM-DD HH:MM
    assert "just now" in page


def test_srm__banner_with_its_diagnosis(api: ApiClient, team: Team) -> None:
    lab = make_lab(api)
    events = population("exp", 400, (0.1, 0.1))
    lab.send([e for e in events if not str(e["unit_id"]).startswith("t1")])
    page = Page(team, lab.experiment["id"])

    page.refresh()
    html = main_of(page.get())

    assert 'class="flash flash-error srm-banner" role="alert"' in html
    assert "Days most out of line" in html
    assert "Attribute platform = " in html


def test_no_srm__no_banner(api: ApiClient, team: Team) -> None:
    lab = make_lab(api)
    lab.send(population("exp", 200, (0.1, 0.2)))
    lab.results()

    assert "srm-banner" not in Page(team, lab.experiment["id"]).get()


def test_user_text__escaped(api: ApiClient, team: Team) -> None:
    lab = make_lab(api)
    r = api.patch(api.org(f"/metrics/{lab.conversion['id']}"), json={"name": XSS},
                  headers={"If-Match": "*"})  # fmt: skip
    assert r.status_code == 200, r.text
    lab.send(population("exp", 100, (0.1, 0.2)))
    page = Page(team, lab.experiment["id"])
    page.refresh()

    html = page.get()

    assert XSS not in html
    assert str(escape(XSS)) in html


def test_metric_renamed_after_the_refresh__chart_and_plan_name_it_as_now(
    api: ApiClient, team: Team
) -> None:
    lab = make_lab(api)
    lab.send(population("exp", 200, (0.1, 0.2)))
    page = Page(team, lab.experiment["id"])
    page.refresh()
    r = api.patch(api.org(f"/metrics/{lab.conversion['id']}"), json={"name": "Checkout rate"},
                  headers={"If-Match": "*"})  # fmt: skip
    assert r.status_code == 200, r.text

    html = main_of(page.get())

    assert "Cumulative lift of Checkout rate by day" in html  # the stored series, named now
    assert "<dt>primary metrics</dt><dd>Checkout rate</dd>" in html


def test_exports__links_to_every_report_format(api: ApiClient, team: Team) -> None:
    lab = make_lab(api)
    html = Page(team, lab.experiment["id"]).get()
    links = re.findall(r'href="([^"]*/report\?format=\w+)"', html)

    assert [link.rsplit("=", 1)[1] for link in links] == ["html", "md", "csv", "xlsx", "pdf"]
    r = team["viewer"].get(html_lib.unescape(links[2]))  # the session cookie reads the API too
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/csv")


def test_stop__editor_stops__viewer_may_not(api: ApiClient, team: Team) -> None:
    lab = make_lab(api)
    page = Page(team, lab.experiment["id"])
    stop = page.url.removesuffix("/results") + "/stop"

    assert 'id="stop"' not in page.get("viewer")
    shown = page.get("editor")
    assert 'id="stop"' in shown
    etag = hidden(shown, "etag")  # the version the page was read at
    denied = team["viewer"].post_form(stop, {"winner": "", "reason": "", "etag": etag})
    done = team["editor"].post_form(stop, {"winner": "treatment", "reason": "won", "etag": etag})

    assert denied.status_code == 403
    assert done.status_code == 303
    stored = api.get(lab.path()).json()["data"]
    assert stored["status"] == "stopped"
    assert stored["decision"]["winner"] == "treatment"


def test_unknown_experiment__404_page(team: Team) -> None:
    r = team["viewer"].get(team.url("/experiments/exp_nope/results"))

    assert r.status_code == 404
    assert "<title>" in r.text


class TestTools:
    def test_sample_size__the_api_answer(self, api: ApiClient, team: Team) -> None:
        params = {"metric_type": "binary", "baseline_value": "0.1", "mde_pct": "5",
                  "alpha": "0.05", "power": "0.8", "variants_count": "2",
                  "expected_daily_traffic": "1000"}  # fmt: skip
        body: Json = {k: v if k == "metric_type" else float(v) for k, v in params.items()}
        body["variants_count"] = 2
        expected = api.post("/api/tools/sample-size", json=body).json()["data"]

        r = team["viewer"].get(team.url("/tools/sample-size"), params={**params, "run": "1"})

        assert r.status_code == 200, r.text[:1000]
        assert rv.count(expected["total_sample_size"]) in main_of(r.text)
        assert f"{expected['estimated_duration_days']} days" in r.text

    def test_bandit__allocation_chart(self, team: Team) -> None:
        params = {"true_rates": "0.1, 0.2", "steps": "20", "batch_size": "50", "seed": "1",
                  "run": "1"}  # fmt: skip
        r = team["viewer"].get(team.url("/tools/bandit"), params=params)

        assert r.status_code == 200, r.text[:1000]
        assert "Share of traffic per arm by step" in r.text
        assert "<svg" in main_of(r.text)

    def test_bad_input__422_beside_the_field(self, team: Team) -> None:
        r = team["viewer"].get(team.url("/tools/srm"), params={"observed": "12", "run": "1"})

        assert r.status_code == 422
        assert 'id="f-observed-error"' in r.text

    def test_every_tool__a_labelled_form(self, team: Team) -> None:
        index = team["viewer"].get(team.url("/tools")).text
        for slug in ("sample-size", "sensitivity", "srm", "multiple-testing", "analyze", "bandit"):
            assert f"/tools/{slug}" in index
            html = team["viewer"].get(team.url(f"/tools/{slug}")).text
            inputs = re.findall(r'<(?:input|select|textarea) id="(f-[\w-]+)"', html)
            assert inputs
            for found in inputs:
                assert f'<label for="{found}"' in html


def test_preview__as_the_sdk_answers(api: ApiClient, team: Team, dash_server: LiveServer) -> None:
    project = post(api, "/projects", {"key": "prev", "name": "Preview <b>"})
    pid = project["id"]
    metric = create_metric(api, pid)
    experiment = post(api, "/experiments", {
        "project_id": pid, "key": "button", "name": "Button",
        "variants": [{"key": "control", "weight": 50, "params": {"colour": "red"}},
                     {"key": "blue", "weight": 50, "params": {"colour": "blue"}}],
        "metrics": {"primary": [metric["id"]]}})  # fmt: skip
    act(api, experiment["id"], "start")
    create_flag(api, pid, key="banner", type="boolean", default_value=False)
    key = create_sdk_key(api, pid)
    settle(dash_server)
    body = {"unit_id": "user-42", "attributes": {"country": "DE"}}
    sdk = api.post("/api/sdk/evaluate", json=body, headers=bearer(key)).json()["data"]

    r = team["viewer"].get(team.url("/preview"), params={
        "project": pid, "unit_id": "user-42", "attributes": "country=DE"})  # fmt: skip

    assert r.status_code == 200, r.text[:1000]
    html = main_of(r.text)
    assert sdk["experiments"]
    for layer, answer in sdk["experiments"].items():
        row = re.search(rf'<th scope="row">{re.escape(layer)}</th><td>(.*?)</td><td>(.*?)</td>',
                        html)  # fmt: skip
        assert row is not None, layer
        assert row.group(2) == (answer["variant"] if answer["assigned"] else "(default)")
    assert '<th scope="row">banner</th><td><code>false</code></td>' in html
    assert "Preview &lt;b&gt;" in r.text


def test_project_page__report_export_links(api: ApiClient, team: Team) -> None:
    project = post(api, "/projects", {"key": "exports", "name": "Exports"})

    html = team["viewer"].get(team.url(f"/projects/{project['id']}")).text
    links = re.findall(r'href="([^"]*/projects/[^"/]+/report\?format=\w+)"', html)

    assert [link.rsplit("=", 1)[1] for link in links] == ["html", "csv", "xlsx", "pdf"]
    r = team["viewer"].get(html_lib.unescape(links[1]))
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/csv")
