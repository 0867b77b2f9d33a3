"""``/avsb`` subcommands, the pause / stop confirmation and its button, the link flow, and the
Events API (url_verification, app_mention), all through Slack-signed HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.design.factories import act, create_experiment, create_project
from tests.integration.people.conftest import join

from .conftest import Workspace

Json = dict[str, Any]


def _text(answer: Json) -> str:
    return "\n".join(
        b["text"]["text"] for b in answer["blocks"] if b.get("text") and "text" in b["text"]
    )


@pytest.fixture
def running(workspace: Workspace) -> Json:
    project = create_project(workspace.api, key="shop")
    experiment = create_experiment(workspace.api, project["id"], key="checkout")
    return act(workspace.api, experiment["id"], "start")


class TestReadCommands:
    def test_status__state_variants_and_no_results_yet(
        self, workspace: Workspace, running: Json
    ) -> None:
        answer = workspace.command("status checkout")

        text = _text(answer)
        assert "`shop/checkout`" in text
        assert "Status: *running*" in text
        assert "Results: none computed yet" in text
        assert answer["text"] == "checkout: running"

    def test_results__none_yet(self, workspace: Workspace, running: Json) -> None:
        answer = workspace.command("results shop/checkout")

        assert "No results have been computed" in _text(answer)

    def test_list_running__lists_only_running(self, workspace: Workspace, running: Json) -> None:
        project = create_project(workspace.api, key="blog")
        create_experiment(workspace.api, project["id"], key="draft_one")

        answer = workspace.command("list running")

        assert answer["text"] == "1 running experiment(s)"
        assert "`shop/checkout`" in _text(answer)
        assert "draft_one" not in _text(answer)

    def test_key_in_two_projects__ambiguous_then_project_key_resolves(
        self, workspace: Workspace, running: Json
    ) -> None:
        other = create_project(workspace.api, key="blog")
        create_experiment(workspace.api, other["id"], key="checkout")

        ambiguous = workspace.command("status checkout")
        chosen = workspace.command("status blog/checkout")

        assert "names several experiments" in ambiguous["text"]
        assert "blog/checkout" in ambiguous["text"]
        assert "shop/checkout" in ambiguous["text"]
        assert "Status: *draft*" in _text(chosen)

    def test_unknown_experiment_and_help(self, workspace: Workspace) -> None:
        assert "No experiment 'nope'" in workspace.command("status nope")["text"]
        assert "/avsb list running" in _text(workspace.command(""))
        assert "Unknown command 'frobnicate'" in workspace.command("frobnicate")["text"]


class TestPauseStop:
    def test_unlinked_user__told_how_to_link(self, workspace: Workspace, running: Json) -> None:
        answer = workspace.command("pause checkout", user="U_STRANGER")

        assert "/avsb link" in answer["text"]
        assert "actions" not in [b["type"] for b in answer["blocks"]]

    def test_viewer_linked__refused_at_command_and_at_click(
        self, workspace: Workspace, running: Json
    ) -> None:
        viewer = join(workspace.server, workspace.api.org_id, "viewer")
        workspace.link(viewer, "U_VIEWER")

        answer = workspace.command("stop checkout", user="U_VIEWER")
        workspace.click("avsb_stop", running["id"], user="U_VIEWER", channel="C_V")

        assert "role (viewer) may not pause or stop" in answer["text"]
        (refusal,) = workspace.slack.wait_for(
            "chat.postEphemeral", lambda c: c.body["channel"] == "C_V"
        )
        assert refusal.body["user"] == "U_VIEWER"
        assert "may not pause or stop" in refusal.body["text"]
        got = workspace.api.get(workspace.api.org(f"/experiments/{running['id']}"))
        assert got.json()["data"]["status"] == "running"
        viewer.client.close()

    def test_editor__confirm_then_click__paused_as_that_user_from_slack(
        self, workspace: Workspace, running: Json
    ) -> None:
        editor = join(workspace.server, workspace.api.org_id, "editor")
        workspace.link(editor, "U_EDITOR")

        # The command asks first: a danger button guarded by a Block Kit confirm dialog
        answer = workspace.command("pause checkout", user="U_EDITOR")
        actions = next(b for b in answer["blocks"] if b["type"] == "actions")
        button = actions["elements"][0]
        assert button["action_id"] == "avsb_pause"
        assert button["value"] == running["id"]
        assert button["style"] == "danger"
        assert button["confirm"]["confirm"] == {"type": "plain_text", "text": "Pause"}
        assert button["confirm"]["deny"] == {"type": "plain_text", "text": "Cancel"}
        assert (
            workspace.api.get(workspace.api.org(f"/experiments/{running['id']}")).json()["data"][
                "status"
            ]
            == "running"
        )

        # Slack sends the click once the dialog is confirmed
        workspace.click("avsb_pause", button["value"], user="U_EDITOR", channel="C_E")

        got = workspace.api.get(workspace.api.org(f"/experiments/{running['id']}")).json()
        assert got["data"]["status"] == "paused"
        audit = workspace.api.get(
            workspace.api.org("/audit"), params={"action": "experiment.paused"}
        ).json()["data"]
        assert (audit[0]["actor_id"], audit[0]["source"]) == (editor.user_id, "slack")
        (posted,) = workspace.slack.wait_for(
            "chat.postMessage", lambda c: c.body["channel"] == "C_E"
        )
        assert "was paused by <@U_EDITOR>" in posted.body["blocks"][0]["text"]["text"]
        assert posted.token == f"xoxb-{workspace.team_id}-token"
        editor.client.close()

    def test_stop_click__stopped_with_decision_reason(
        self, workspace: Workspace, running: Json
    ) -> None:
        editor = join(workspace.server, workspace.api.org_id, "editor")
        workspace.link(editor, "U_STOPPER")

        workspace.click("avsb_stop", running["id"], user="U_STOPPER", channel="C_S")

        data = workspace.api.get(workspace.api.org(f"/experiments/{running['id']}")).json()["data"]
        assert data["status"] == "stopped"
        assert data["decision"]["reason"] == f"Stopped from Slack by {editor.email}"
        workspace.slack.wait_for("chat.postMessage", lambda c: c.body["channel"] == "C_S")
        editor.client.close()

    def test_pause_of_paused__refusal_posted_nothing_changed(
        self, workspace: Workspace, running: Json
    ) -> None:
        act(workspace.api, running["id"], "pause")
        admin = workspace.admin
        workspace.link(admin, "U_ADMIN")

        workspace.click("avsb_pause", running["id"], user="U_ADMIN", channel="C_P")

        (refusal,) = workspace.slack.wait_for(
            "chat.postEphemeral", lambda c: c.body["channel"] == "C_P"
        )
        assert "Cannot pause an experiment that is paused" in refusal.body["text"]


class TestLink:
    def test_link_code__single_use_and_listed(self, workspace: Workspace) -> None:
        answer = workspace.command("link", user="U_LINKER")
        code = answer["blocks"][0]["text"]["text"].split("`")[1]
        person = workspace.admin
        path = f"/api/orgs/{workspace.api.org_id}/slack/links"

        first = person.client.post(path, json={"code": code})
        again = person.client.post(path, json={"code": code})

        assert first.status_code == 201, first.text
        assert first.json()["data"]["slack_user_id"] == "U_LINKER"
        assert first.json()["data"]["user_id"] == person.user_id
        assert again.status_code == 422
        listed = workspace.api.get(workspace.api.org("/slack/links")).json()["data"]
        assert [row["slack_user_id"] for row in listed] == ["U_LINKER"]

    def test_service_token__cannot_link(self, workspace: Workspace) -> None:
        answer = workspace.command("link", user="U_BOT")
        code = answer["blocks"][0]["text"]["text"].split("`")[1]

        r = workspace.api.post(workspace.api.org("/slack/links"), json={"code": code})

        assert r.status_code == 403


class TestEvents:
    def test_url_verification__challenge_echoed(self, workspace: Workspace) -> None:
        body = b'{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV","type":"url_verification"}'

        r = workspace.signed("/api/slack/events", body, "application/json")

        assert r.status_code == 200
        assert r.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}

    def test_app_mention__status_answered_in_thread_once(
        self, workspace: Workspace, running: Json
    ) -> None:
        mention = {"type": "app_mention", "user": "U_ASKER", "channel": "C_MENTION",
                   "text": "<@UBOT> status checkout", "ts": "1700000000.000200"}  # fmt: skip

        first = workspace.event(mention, event_id="Ev0MENTION1")
        # Slack's retry of the same event: signed anew, a second later
        retry = workspace.event(mention, event_id="Ev0MENTION1", timestamp=int(time.time()) + 1)

        assert (first.status_code, retry.status_code) == (200, 200)
        (answer,) = workspace.slack.wait_for(
            "chat.postMessage", lambda c: c.body["channel"] == "C_MENTION"
        )
        assert answer.body["thread_ts"] == "1700000000.000200"
        assert "Status: *running*" in answer.body["blocks"][1]["text"]["text"]
        assert answer.token == f"xoxb-{workspace.team_id}-token"
        workspace.event({**mention, "text": "<@UBOT> help", "channel": "C_HELP"})
        (helped,) = workspace.slack.wait_for(
            "chat.postMessage", lambda c: c.body["channel"] == "C_HELP"
        )
        assert "/avsb status" in helped.body["blocks"][-1]["text"]["text"]
        assert (
            len(workspace.slack.of("chat.postMessage", lambda c: c.body["channel"] == "C_MENTION"))
            == 1
        )
