"""A server wired to a stand-in Slack, on a private database (every server's Slack worker
drains the outbox of the database it serves), and helpers that act as Slack and as people."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import orjson
import pytest

from tests.integration.people.conftest import FAST_HASH, Person, join
from tests.integration.results.conftest import default_backend, events_url
from tests.integration.webhooks.conftest import HookEnv, hook_env_at
from tests.support.servers import ApiClient, LiveServer, free_port, new_org_client

from .standin import SlackStandIn, slack_headers

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "client-secret-" + "x" * 20
Json = dict[str, Any]


@dataclass
class SlackEnv:
    env: HookEnv
    server: LiveServer
    slack: SlackStandIn


@pytest.fixture(scope="module")
def slack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlackEnv]:
    tmp = tmp_path_factory.mktemp("slack")
    with (
        SlackStandIn() as slack,
        hook_env_at(tmp) as env,
        events_url(default_backend(), tmp) as events,
    ):
        port = free_port()
        server = env.factory.start(port, **slack_settings(slack, port), events_url=events)
        yield SlackEnv(env, server, slack)


def slack_settings(slack: SlackStandIn, port: int) -> dict[str, Any]:
    """A server's settings with the Slack app configured against the stand-in."""
    return {
        **FAST_HASH,
        "public_url": f"http://127.0.0.1:{port}",
        "slack_signing_secret": SECRET,
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
        "slack_api_url": slack.api_url,
        "slack_poll_seconds": 0.05,
        "slack_retry_schedule_seconds": [0.2, 0.2],
        "login_failures_per_minute": 1_000_000,
    }


@dataclass
class Workspace:
    """An organisation connected (by OAuth, by its admin) to its own Slack team."""

    senv: SlackEnv
    api: ApiClient  # a `*` token of the organisation
    team_id: str
    admin: Person

    @property
    def server(self) -> LiveServer:
        return self.senv.server

    @property
    def slack(self) -> SlackStandIn:
        return self.senv.slack

    def signed(self, path: str, body: bytes, content_type: str, **sign: Any) -> httpx.Response:
        headers = {"content-type": content_type, **slack_headers(SECRET, body, **sign)}
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            return client.post(path, content=body, headers=headers)

    def command(self, text: str, user: str = "U_NOBODY") -> Json:
        form = {"team_id": self.team_id, "user_id": user, "command": "/avsb", "text": text,
                "channel_id": "C_CMD", "response_url": "https://hooks.invalid/x"}  # fmt: skip
        r = self.signed("/api/slack/commands", urlencode(form).encode(),
                        "application/x-www-form-urlencoded")  # fmt: skip
        assert r.status_code == 200, r.text
        answer: Json = r.json()
        assert answer["response_type"] == "ephemeral"
        return answer

    def click(self, action_id: str, value: str, user: str, channel: str = "C_ACT") -> None:
        action = {"action_id": action_id, "value": value, "type": "button"}
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id},
            "user": {"id": user},
            "channel": {"id": channel},
            "actions": [action],
        }
        body = urlencode({"payload": orjson.dumps(payload).decode()}).encode()
        r = self.signed("/api/slack/interactive", body, "application/x-www-form-urlencoded")
        assert r.status_code == 200, r.text

    def event(self, event: Json, event_id: str | None = None, **sign: Any) -> httpx.Response:
        body = {"type": "event_callback", "team_id": self.team_id, "event": event,
                "event_id": event_id or "Ev" + secrets.token_hex(5)}  # fmt: skip
        return self.signed("/api/slack/events", orjson.dumps(body), "application/json", **sign)

    def link(self, person: Person, slack_user: str) -> None:
        """``/avsb link`` in Slack, then the person redeems the code while signed in."""
        answer = self.command("link", user=slack_user)
        code = answer["blocks"][0]["text"]["text"].split("`")[1]
        r = person.client.post(f"/api/orgs/{self.api.org_id}/slack/links", json={"code": code})
        assert r.status_code == 201, r.text


def install(senv: SlackEnv, admin: Person, org_id: str, team_id: str) -> httpx.Response:
    """The OAuth round trip: the install redirect, Slack's approval, the callback."""
    start = admin.client.get("/api/slack/install", params={"org_id": org_id})
    assert start.status_code == 302, start.text
    query = parse_qs(urlsplit(start.headers["location"]).query)
    code = "code-" + secrets.token_hex(4)
    senv.slack.teams[code] = team_id
    return admin.client.get(
        "/api/slack/oauth/callback", params={"code": code, "state": query["state"][0]}
    )


@pytest.fixture
def workspace(slack_env: SlackEnv) -> Iterator[Workspace]:
    with new_org_client(slack_env.server) as api:
        admin = join(slack_env.server, api.org_id, "admin")
        team_id = "T" + secrets.token_hex(4).upper()
        r = install(slack_env, admin, api.org_id, team_id)
        assert r.status_code == 200, r.text
        yield Workspace(slack_env, api, team_id, admin)
        admin.client.close()
