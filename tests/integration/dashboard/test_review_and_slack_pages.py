"""The design review on the experiment pages (the same findings as the API's review) and the
Slack settings page (status, connect, project channels, links), over HTTP."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.integration.dashboard.conftest import (
    FAST_HASH,
    XSS,
    Person,
    Team,
    api_token,
    join,
    main_of,
    new_org,
)
from tests.integration.review.conftest import LLM_KEY, LLM_MODEL, LLM_TIMEOUT, StandIn
from tests.integration.review.conftest import _handler as llm_handler
from tests.integration.slack.conftest import SECRET, slack_settings
from tests.integration.slack.standin import SlackStandIn, slack_headers
from tests.integration.webhooks.conftest import hook_env_at
from tests.support.servers import LiveServer, ServerFactory, free_port


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


@pytest.fixture(scope="module")
def model() -> Iterator[StandIn]:
    """A stand-in OpenAI-compatible endpoint (the review tests' own)."""
    found = StandIn()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), llm_handler(found))
    httpd.daemon_threads = True
    found.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield found
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def llm_site(servers: ServerFactory, model: StandIn) -> LiveServer:
    return servers.start(
        **FAST_HASH, llm_url=f"{model.url}/v1", llm_model=LLM_MODEL, llm_api_key=LLM_KEY,
        llm_timeout_seconds=LLM_TIMEOUT, login_failures_per_minute=1_000_000,
    )  # fmt: skip


def test_experiment_page__never_asks_the_model_on_load_and_offers_a_button(
    dash_server: LiveServer, team: Team, experiment: dict[str, Any], llm_site: LiveServer,
    model: StandIn,
) -> None:  # fmt: skip
    # Without a model configured there is no button.
    url = team.url(f"/experiments/{experiment['id']}")
    assert "data-llm-review" not in team["viewer"].get(url).text

    org_id = new_org(llm_site)
    viewer = join(llm_site, org_id, "viewer")
    with api_token(llm_site, org_id) as api:
        org = f"/api/orgs/{org_id}"
        prj = _ok(api.post(f"{org}/projects", json={"key": "shop", "name": "Shop"}))
        variants = [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]
        spec = {"project_id": prj["id"], "key": "two", "name": "Two", "variants": variants}
        exp = _ok(api.post(f"{org}/experiments", json=spec))
    model.reset()
    page = viewer.get(f"/orgs/{org_id}/experiments/{exp['id']}")
    assert page.status_code == 200
    assert "data-llm-review" in page.text
    assert model.requests == []  # a page load never asks the model
    expected = _codes(page.text)

    r = viewer.post_form(f"/orgs/{org_id}/experiments/{exp['id']}/review", {})
    assert r.status_code == 200, r.text
    body = main_of(r.text)
    assert "Check novelty effects: run for two full weeks." in body
    assert LLM_MODEL in body
    assert _codes(r.text) == expected
    assert len(model.requests) == 1
    assert LLM_KEY not in r.text
    # The model failing leaves the rules' answer, with the reason.
    model.reset("error")
    failed = main_of(viewer.post_form(f"/orgs/{org_id}/experiments/{exp['id']}/review", {}).text)
    assert "HTTP 500" in failed
    assert (
        viewer.post_form(
            f"/orgs/{org_id}/experiments/{exp['id']}/review", {}, csrf=False
        ).status_code
        == 403
    )
    viewer.client.close()


# The Slack settings page ------------------------------------------------------------------


@dataclass
class SlackSite:
    server: LiveServer
    slack: SlackStandIn
    team_id: str  # the Slack workspace of the bot token


@pytest.fixture(scope="module")
def slack_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlackSite]:
    """A server with the Slack app (OAuth and a bot token) against the stand-in, on its own
    database (its Slack worker drains the outbox of the database it serves)."""
    team = "TDASH" + secrets.token_hex(2).upper()
    token = f"xoxb-{team}-token"
    with SlackStandIn() as slack, hook_env_at(tmp_path_factory.mktemp("slackdash")) as env:
        port = free_port()
        server = env.factory.start(port, **slack_settings(slack, port), slack_bot_token=token)
        yield SlackSite(server, slack, team)
        server.stop()


@pytest.fixture
def slack_team(slack_site: SlackSite) -> Iterator[Team]:
    org_id = new_org(slack_site.server)
    members = {r: join(slack_site.server, org_id, r) for r in ("viewer", "admin")}
    yield Team(org_id, members)
    for person in members.values():
        person.client.close()


def _flash_of(person: Person, r: httpx.Response) -> str:
    assert r.status_code == 303, r.text
    return main_of(person.get(r.headers["location"]).text)


def test_slack_page__connect_set_channel_link_and_disconnect(
    slack_site: SlackSite, slack_team: Team
) -> None:
    server, admin = slack_site.server, slack_team["admin"]
    with api_token(server, slack_team.org_id) as api:
        org = f"/api/orgs/{slack_team.org_id}"
        project = _ok(api.post(f"{org}/projects", json={"key": "web", "name": XSS}))
    url = slack_team.url("/slack")

    page = admin.get(url)
    assert page.status_code == 200, page.text
    body = main_of(page.text)
    assert "not connected" in body
    assert f'href="/api/slack/install?org_id={slack_team.org_id}"' in body  # OAuth configured
    assert f'action="{url}/connect"' in body
    assert XSS not in page.text  # the project's name is escaped
    assert "&lt;script&gt;" in body
    assert 'name="csrf_token"' in body

    # Connect the single-workspace bot token: the status shows the workspace and bot user.
    shown = _flash_of(admin, admin.post_form(url + "/connect", {}))
    assert slack_site.team_id in shown
    assert "UBOT" in shown
    assert "connected" in shown
    with api_token(server, slack_team.org_id) as api:
        status = _ok(api.get(f"/api/orgs/{slack_team.org_id}/slack/status"), 200)
    assert status["installation"]["team_id"] == slack_site.team_id

    # A project's channel, set through its form, is what the API answers.
    r = admin.post_form(f"{url}/channels/{project['id']}", {"channel_id": "CDASH1"})
    assert "CDASH1" in _flash_of(admin, r)
    with api_token(server, slack_team.org_id) as api:
        channel = _ok(api.get(f"/api/orgs/{slack_team.org_id}/projects/{project['id']}/slack"), 200)
    assert channel["channel_id"] == "CDASH1"
    # A bad channel id is refused with the API's message; nothing changes.
    bad = _flash_of(
        admin, admin.post_form(f"{url}/channels/{project['id']}", {"channel_id": "no!"})
    )
    assert "channel_id" in bad
    # Clearing asks first, then clears.
    ask = admin.get(f"{url}/channels/{project['id']}/clear")
    assert ask.status_code == 200
    assert "CDASH1" in main_of(ask.text)
    with api_token(server, slack_team.org_id) as api:
        still = api.get(f"/api/orgs/{slack_team.org_id}/projects/{project['id']}/slack")
        assert still.status_code == 200
        _flash_of(admin, admin.post_form(f"{url}/channels/{project['id']}/clear", {}))
        gone = api.get(f"/api/orgs/{slack_team.org_id}/projects/{project['id']}/slack")
        assert gone.status_code == 404

    # Link my account with the code `/avsb link` gave in Slack; then unlink it.
    answer = _command(slack_site, "link", "UDASHUSER")
    code = answer["blocks"][0]["text"]["text"].split("`")[1]
    linked = _flash_of(admin, admin.post_form(url + "/links", {"code": code}))
    assert "UDASHUSER" in linked
    assert "(you)" in linked
    wrong = _flash_of(admin, admin.post_form(url + "/links", {"code": "not-a-real-code"}))
    assert "expired" in wrong
    with api_token(server, slack_team.org_id) as api:
        listed = api.get(f"/api/orgs/{slack_team.org_id}/slack/links")
    assert listed.status_code == 200, listed.text
    (link,) = listed.json()["data"]
    assert link["slack_user_id"] == "UDASHUSER"
    assert admin.get(f"{url}/links/{link['id']}/remove").status_code == 200
    unlinked = _flash_of(admin, admin.post_form(f"{url}/links/{link['id']}/remove", {}))
    assert "UDASHUSER" not in unlinked

    # Disconnect asks first; afterwards the page offers connecting again.
    assert "Disconnect Slack?" in admin.get(url + "/disconnect").text
    after = _flash_of(admin, admin.post_form(url + "/disconnect", {}))
    assert "not connected" in after
    assert f'action="{url}/connect"' in after


def test_slack_page__viewer_reads_without_edit_controls_and_posts_403(
    slack_site: SlackSite, slack_team: Team
) -> None:
    with api_token(slack_site.server, slack_team.org_id) as api:
        org = f"/api/orgs/{slack_team.org_id}"
        project = _ok(api.post(f"{org}/projects", json={"key": "web", "name": "Web"}))
    viewer, url = slack_team["viewer"], slack_team.url("/slack")
    page = viewer.get(url)
    assert page.status_code == 200, page.text
    body = main_of(page.text)
    assert "Project channels" in body
    assert "<form" not in body  # not connected: nothing to link; no admin controls
    assert "/api/slack/install" not in body
    r = viewer.post_form(f"{url}/channels/{project['id']}", {"channel_id": "CNOPE"})
    assert r.status_code == 403
    assert viewer.post_form(url + "/connect", {}).status_code == 403
    assert viewer.get(url + "/disconnect").status_code == 403
    # Without the CSRF field even the admin's POST is refused.
    assert slack_team["admin"].post_form(url + "/connect", {}, csrf=False).status_code == 403


def _command(site: SlackSite, text: str, user: str) -> dict[str, Any]:
    form = {"team_id": site.team_id, "user_id": user, "command": "/avsb", "text": text,
            "channel_id": "C_CMD", "response_url": "https://hooks.invalid/x"}  # fmt: skip
    body = urlencode(form).encode()
    headers = {"content-type": "application/x-www-form-urlencoded",
               **slack_headers(SECRET, body)}  # fmt: skip
    with httpx.Client(base_url=site.server.url, timeout=30) as client:
        r = client.post("/api/slack/commands", content=body, headers=headers)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_slack_page__viewer_links_own_account_only(slack_site: SlackSite, slack_team: Team) -> None:
    """Linking one's own Slack account is a person's own action (as the API allows any member):
    once connected the viewer gets that form and nothing else."""
    admin, viewer, url = slack_team["admin"], slack_team["viewer"], slack_team.url("/slack")
    _flash_of(admin, admin.post_form(url + "/connect", {}))
    body = main_of(viewer.get(url).text)
    assert re.findall(r'<form[^>]*action="([^"]+)"', body) == [url + "/links"]
    assert "/disconnect" not in body
    code = _command(slack_site, "link", "UVIEWER")["blocks"][0]["text"]["text"].split("`")[1]
    linked = _flash_of(viewer, viewer.post_form(url + "/links", {"code": code}))
    assert "UVIEWER" in linked
    assert "Unlink" in linked  # their own link
    assert viewer.get(url + "/disconnect").status_code == 403
    assert admin.post_form(url + "/disconnect", {}).status_code == 303
