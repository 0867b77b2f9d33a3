"""Slack-signed requests: exactly Slack's signature passes; a wrong one, an old timestamp or a
replayed request is refused; the OAuth install round trip; the status route."""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from avsb.server.models import SlackInstallation
from tests.integration.design.factories import act, create_experiment, create_project
from tests.integration.people.conftest import join
from tests.integration.webhooks.conftest import hook_env_at
from tests.support.servers import free_port, new_org_client

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET,
    SlackEnv,
    Workspace,
    install,
    slack_settings,
)
from .standin import slack_headers

FORM = "application/x-www-form-urlencoded"


def _help_body(ws: Workspace) -> bytes:
    return urlencode({"team_id": ws.team_id, "user_id": "U1", "text": "help"}).encode()


class TestSignature:
    def test_signed_as_slack_signs__answered(self, workspace: Workspace) -> None:
        r = workspace.signed("/api/slack/commands", _help_body(workspace), FORM)

        assert r.status_code == 200, r.text
        assert r.json()["response_type"] == "ephemeral"
        assert "/avsb status" in r.json()["blocks"][-1]["text"]["text"]

    def test_wrong_signature__403(self, workspace: Workspace) -> None:
        body = _help_body(workspace)
        headers = {"content-type": FORM, **slack_headers("not-the-secret", body)}
        with httpx.Client(base_url=workspace.server.url) as client:
            r = client.post("/api/slack/commands", content=body, headers=headers)

        assert r.status_code == 403
        assert r.json()["error"]["code"] == "slack_signature_invalid"

    def test_body_changed_after_signing__403(self, workspace: Workspace) -> None:
        body = _help_body(workspace)
        headers = {"content-type": FORM, **slack_headers(SECRET, body)}
        with httpx.Client(base_url=workspace.server.url) as client:
            r = client.post("/api/slack/commands", content=body + b"&x=1", headers=headers)

        assert r.status_code == 403
        assert r.json()["error"]["code"] == "slack_signature_invalid"

    def test_missing_headers__403(self, workspace: Workspace) -> None:
        with httpx.Client(base_url=workspace.server.url) as client:
            r = client.post("/api/slack/events", json={"type": "url_verification"})

        assert r.status_code == 403
        assert r.json()["error"]["code"] == "slack_signature_invalid"

    def test_old_timestamp__403_even_when_correctly_signed(self, workspace: Workspace) -> None:
        old = int(time.time()) - 6 * 60
        r = workspace.signed("/api/slack/commands", _help_body(workspace), FORM, timestamp=old)

        assert r.status_code == 403
        assert r.json()["error"]["code"] == "slack_request_stale"

    def test_replay__second_identical_request_403(self, workspace: Workspace) -> None:
        body = _help_body(workspace)
        headers = {"content-type": FORM, **slack_headers(SECRET, body)}
        with httpx.Client(base_url=workspace.server.url) as client:
            first = client.post("/api/slack/commands", content=body, headers=headers)
            again = client.post("/api/slack/commands", content=body, headers=headers)

        assert first.status_code == 200
        assert again.status_code == 403
        assert again.json()["error"]["code"] == "slack_request_replayed"

    def test_replay_to_another_server_process__403(self, workspace: Workspace) -> None:
        """Servers share only the database: the replay record holds across processes."""
        port = free_port()
        other = workspace.senv.env.factory.start(port, **slack_settings(workspace.slack, port))
        body = _help_body(workspace)
        headers = {"content-type": FORM, **slack_headers(SECRET, body)}
        with httpx.Client(timeout=30.0) as client:  # a loaded box: the first answer may lag
            first = client.post(f"{workspace.server.url}/api/slack/commands", content=body,
                                headers=headers)  # fmt: skip
            again = client.post(f"{other.url}/api/slack/commands", content=body, headers=headers)
        other.stop()

        assert first.status_code == 200
        assert again.status_code == 403
        assert again.json()["error"]["code"] == "slack_request_replayed"


class TestInstall:
    def test_oauth_round_trip__installation_stored_and_shown(self, slack_env: SlackEnv) -> None:
        with new_org_client(slack_env.server) as api:
            admin = join(slack_env.server, api.org_id, "admin")
            # Given the redirect to Slack's authorize page
            start = admin.client.get("/api/slack/install", params={"org_id": api.org_id})
            assert start.status_code == 302
            location = urlsplit(start.headers["location"])
            query = parse_qs(location.query)
            assert (location.netloc, location.path) == ("slack.com", "/oauth/v2/authorize")
            assert query["client_id"] == [CLIENT_ID]
            assert query["scope"] == ["commands,chat:write,app_mentions:read"]
            redirect = f"{slack_env.server.url}/api/slack/oauth/callback"
            assert query["redirect_uri"] == [redirect]
            slack_env.slack.teams["code-rt"] = "TROUNDTRIP"

            # When Slack sends the browser back with a code
            r = admin.client.get(
                "/api/slack/oauth/callback", params={"code": "code-rt", "state": query["state"][0]}
            )

            # Then the code was traded at oauth.v2.access with the app's credentials
            assert r.status_code == 200, r.text
            assert r.json()["data"]["team_id"] == "TROUNDTRIP"
            (call,) = slack_env.slack.of("oauth.v2.access", lambda c: c.body["code"] == "code-rt")
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            assert call.headers["authorization"] == f"Basic {basic}"
            assert call.body["redirect_uri"] == redirect
            status = api.get(api.org("/slack/status")).json()["data"]
            assert status["installed"] is True
            assert status["installation"] == {
                **status["installation"],
                "team_id": "TROUNDTRIP",
                "team_name": "Team TROUNDTRIP",
                "bot_user_id": "UBOT",
                "single_workspace": False,
            }
            assert "xoxb" not in str(status)
            audit = api.get(api.org("/audit"), params={"action": "slack.installed"})
            assert audit.json()["data"][0]["actor_id"] == admin.user_id
            # And the state is single use
            again = admin.client.get(
                "/api/slack/oauth/callback", params={"code": "code-rt", "state": query["state"][0]}
            )
            assert again.status_code == 400
            assert again.json()["error"]["code"] == "slack_state_invalid"
            admin.client.close()

    def test_callback_by_another_person__403(self, slack_env: SlackEnv) -> None:
        with new_org_client(slack_env.server) as api:
            admin = join(slack_env.server, api.org_id, "admin")
            other = join(slack_env.server, api.org_id, "admin")
            start = admin.client.get("/api/slack/install", params={"org_id": api.org_id})
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]

            r = other.client.get(
                "/api/slack/oauth/callback", params={"code": "c-x", "state": state}
            )

            assert r.status_code == 403
            assert not api.get(api.org("/slack/status")).json()["data"]["installed"]
            admin.client.close()
            other.client.close()

    def test_install__editor_lacks_webhooks_write__403(self, slack_env: SlackEnv) -> None:
        with new_org_client(slack_env.server) as api:
            editor = join(slack_env.server, api.org_id, "editor")

            r = editor.client.get("/api/slack/install", params={"org_id": api.org_id})

            assert r.status_code == 403
            assert r.json()["error"]["code"] == "scope_missing"
            editor.client.close()

    def test_denied_by_user__400(self, slack_env: SlackEnv) -> None:
        with httpx.Client(base_url=slack_env.server.url) as client:
            r = client.get("/api/slack/oauth/callback", params={"error": "access_denied"})

        assert r.status_code == 400
        assert r.json()["error"]["code"] == "slack_denied"

    def test_same_team_into_second_org__409(self, workspace: Workspace) -> None:
        with new_org_client(workspace.server) as api:
            admin = join(workspace.server, api.org_id, "admin")

            r = install(workspace.senv, admin, api.org_id, workspace.team_id)

            assert r.status_code == 409
            assert r.json()["error"]["code"] == "slack_team_taken"
            admin.client.close()

    def test_app_uninstalled_event__installation_and_links_forgotten(
        self, workspace: Workspace
    ) -> None:
        workspace.link(workspace.admin, "U_GONE")

        r = workspace.event({"type": "app_uninstalled"})

        assert r.status_code == 200
        status = workspace.api.get(workspace.api.org("/slack/status")).json()["data"]
        assert (status["installed"], status["linked_users"]) == (False, 0)

    def test_uninstall__status_not_installed_and_commands_refused(
        self, workspace: Workspace
    ) -> None:
        r = workspace.api.delete(workspace.api.org("/slack/installation"))

        assert r.status_code == 204
        assert not workspace.api.get(workspace.api.org("/slack/status")).json()["data"]["installed"]
        answer = workspace.command("list running")
        assert "not connected" in answer["text"]


class TestSingleWorkspace:
    def test_bot_token_setting__connected_by_auth_test_and_used_never_stored(
        self, slack_env: SlackEnv, tmp_path: Path
    ) -> None:
        team = "TSW" + secrets.token_hex(3).upper()
        token = f"xoxb-{team}-token"
        slack = slack_env.slack
        # Its own database: the module server (without the setting) must not take its messages
        with hook_env_at(tmp_path) as env:
            server = env.factory.start(
                slack_signing_secret=SECRET, slack_bot_token=token,
                slack_api_url=slack.api_url, slack_poll_seconds=0.05,
            )  # fmt: skip
            with new_org_client(server) as api:
                r = api.post(api.org("/slack/installation"))

                assert r.status_code == 201, r.text
                shown = r.json()["data"]
                expected = {"team_id": team, "single_workspace": True, "bot_user_id": "UBOT"}
                assert shown == {**shown, **expected}
                assert slack.of("auth.test", lambda c: c.token == token)
                project = create_project(api)
                api.put(api.org(f"/projects/{project['id']}/slack"), json={"channel_id": "CSW"})
                experiment = create_experiment(api, project["id"])
                act(api, experiment["id"], "start")
                (posted,) = slack.wait_for("chat.postMessage", lambda c: c.body["channel"] == "CSW")
                assert posted.token == token
                with env.db.session(write=False) as session:
                    stored = session.get(SlackInstallation, api.org_id)
                    assert stored is not None
                    assert stored.bot_token is None
            server.stop()

    def test_without_bot_token_setting__404_not_configured(self, workspace: Workspace) -> None:
        r = workspace.api.post(workspace.api.org("/slack/installation"))

        assert r.status_code == 404
        assert r.json()["error"]["code"] == "slack_not_configured"


def test_server_without_slack__signed_routes_404(slack_env: SlackEnv, tmp_path: Path) -> None:
    with hook_env_at(tmp_path) as env:
        server = env.factory.start()
        body = b"team_id=T1&text=help"
        headers = {"content-type": FORM, **slack_headers(SECRET, body)}
        with server.client() as client:  # its 30 s timeout: a loaded box may lag
            r = client.post("/api/slack/commands", content=body, headers=headers)
        server.stop()

    assert r.status_code == 404
    assert r.json()["error"]["code"] == "slack_not_configured"
