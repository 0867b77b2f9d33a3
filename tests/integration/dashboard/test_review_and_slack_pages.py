"""The design review on the experiment pages (the same findings as the API's review) and the
Slack settings page (status, connect, project channels, links), over HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.dashboard.conftest import XSS, Team, api_token, main_of
from tests.support.servers import LiveServer


def _ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def _codes(html: str) -> list[str]:
    return re.findall(r'<tr data-finding="([^"]+)">', main_of(html))


@pytest.fixture
def experiment(dash_server: LiveServer, team: Team) -> dict[str, Any]:
    """A draft with a hypothesis that is user text and a design the rules have things to say
    about (three arms, no minimum detectable effect)."""
    with api_token(dash_server, team.org_id) as api:
        org = f"/api/orgs/{team.org_id}"
        prj = _ok(api.post(f"{org}/projects", json={"key": "shop", "name": "Shop"}))
        metric = _ok(api.post(f"{org}/metrics", json={
            "project_id": prj["id"], "key": "buy", "name": "Buys", "type": "binary",
            "event_name": "buy"}))  # fmt: skip
        variants = [{"key": k, "weight": w} for k, w in (("a", 34), ("b", 33), ("c", 33))]
        body = {"project_id": prj["id"], "key": "three", "name": "Three arms",
                "hypothesis": XSS, "variants": variants,
                "metrics": {"primary": [metric["id"]]}}  # fmt: skip
        return _ok(api.post(f"{org}/experiments", json=body))


def _api_codes(dash_server: LiveServer, team: Team, exp_id: str, body: dict[str, Any]) -> list[str]:
    with api_token(dash_server, team.org_id) as api:
        r = api.post(f"/api/orgs/{team.org_id}/experiments/{exp_id}/review", json=body)
        return [f["code"] for f in _ok(r, 200)["findings"]]


def test_experiment_page__shows_the_reviews_findings(
    dash_server: LiveServer, team: Team, experiment: dict[str, Any]
) -> None:
    url = team.url(f"/experiments/{experiment['id']}")
    page = team["viewer"].get(url)
    assert page.status_code == 200, page.text
    assert "Design review" in page.text
    expected = _api_codes(dash_server, team, experiment["id"], {})
    assert expected  # the design has findings to show
    assert _codes(page.text) == expected
    assert XSS not in page.text
    assert "&lt;script&gt;" in page.text

    # The optional facts re-run the review (a GET form), as the API's body does.
    facts = {"expected_daily_units": "50", "planned_duration_days": "7"}
    again = team["viewer"].get(url, params=facts)
    assert again.status_code == 200
    with_facts = _api_codes(
        dash_server, team, experiment["id"], {k: float(v) for k, v in facts.items()}
    )
    assert _codes(again.text) == with_facts
    assert with_facts != expected  # the facts changed what the rules say
    assert 'value="50"' in again.text

    # A fact the API refuses is shown beside its field; the page still answers.
    bad = team["viewer"].get(url, params={"planned_duration_days": "-3"})
    assert bad.status_code == 200
    assert 'class="form-errors"' in bad.text
    assert "planned_duration_days" in bad.text
    assert _codes(bad.text) == expected

    # The edit form shows the same section.
    edit = team["editor"].get(url + "/edit")
    assert edit.status_code == 200
    assert _codes(edit.text) == expected
