"""Notifications to a project's channel (experiment started / stopped, SRM detected, primary
metric significant, guardrail harmed), the weekly digest, retries and the status route: each
asserted on what the stand-in Slack received, Block Kit included."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from avsb.server.slack import service as slack_service
from tests.integration.design.factories import act, create_metric, create_project, post

from .conftest import SlackEnv, Workspace
from .standin import Call

Json = dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _population(
    key: str, per_arm: dict[str, int], rates: dict[str, tuple[float, float]]
) -> list[Json]:
    """Exposures, and purchase / error events at exact rates per variant (every n-th unit)."""
    base = datetime.now(UTC) - timedelta(hours=2)
    events: list[Json] = []
    for variant, n in per_arm.items():
        purchase, error = rates[variant]
        for i in range(n):
            unit = f"{variant}-{i}"
            events.append({"type": "exposure", "experiment": key, "variant": variant,
                           "unit_id": unit, "timestamp": _iso(base)})  # fmt: skip
            for name, rate in (("purchase", purchase), ("error", error)):
                if rate and i % round(1 / rate) == 0:
                    events.append({"type": "metric", "event_name": name, "unit_id": unit,
                                   "timestamp": _iso(base + timedelta(minutes=5))})  # fmt: skip
    return events


class Lab:
    """A project whose notifications go to ``channel``, with a conversion and an error metric."""

    def __init__(self, ws: Workspace, channel: str) -> None:
        self.ws, self.api, self.channel = ws, ws.api, channel
        self.project = create_project(ws.api)
        r = self.api.put(self.api.org(f"/projects/{self.project['id']}/slack"),
                         json={"channel_id": channel})  # fmt: skip
        assert r.status_code == 200, r.text
        pid = self.project["id"]
        self.conversion = create_metric(ws.api, pid, key="conversion", event_name="purchase")
        self.errors = create_metric(ws.api, pid, key="errors", event_name="error", type="count",
                                    lower_is_better=True)  # fmt: skip

    def experiment(self, key: str) -> Json:
        body = {
            "project_id": self.project["id"], "key": key, "name": f"Test {key}",
            "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
            "metrics": {"primary": [self.conversion["id"]], "guardrail": [self.errors["id"]]},
            "analysis": {"method": "frequentist"},
        }  # fmt: skip
        return act(self.api, post(self.api, "/experiments", body)["id"], "start")

    def send(self, events: list[Json]) -> None:
        r = self.api.post(self.api.org(f"/projects/{self.project['id']}/events"),
                          json={"events": events})  # fmt: skip
        assert r.status_code == 200, r.text

    def results(self, experiment: Json) -> Json:
        r = self.api.get(self.api.org(f"/experiments/{experiment['id']}/results"))
        assert r.status_code == 200, r.text
        data: Json = r.json()["data"]
        return data

    def posted(self, header: str, count: int = 1) -> list[Call]:
        def match(c: Call) -> bool:
            first = (c.body.get("blocks") or [{}])[0]
            return c.body["channel"] == self.channel and header in str(first.get("text"))

        return self.ws.slack.wait_for("chat.postMessage", match, count)


@pytest.fixture
def lab(workspace: Workspace) -> Lab:
    return Lab(workspace, "C" + workspace.team_id[1:])


def _section_texts(call: Call) -> str:
    return "\n".join(b["text"]["text"] for b in call.body["blocks"] if b["type"] == "section")


class TestChannel:
    def test_put_get_delete__audited(self, lab: Lab) -> None:
        path = lab.api.org(f"/projects/{lab.project['id']}/slack")
        assert lab.api.get(path).json()["data"]["channel_id"] == lab.channel

        assert lab.api.delete(path).status_code == 204
        assert lab.api.get(path).status_code == 404
        actions = [e["action"] for e in lab.api.get(lab.api.org("/audit")).json()["data"]]
        assert {"slack.channel_set", "slack.channel_cleared"} <= set(actions)

    def test_bad_channel_id__422(self, lab: Lab) -> None:
        r = lab.api.put(lab.api.org(f"/projects/{lab.project['id']}/slack"),
                        json={"channel_id": "#general"})  # fmt: skip
        assert r.status_code == 422


class TestNotifications:
    def test_started_and_stopped__posted_with_blocks_and_bot_token(self, lab: Lab) -> None:
        experiment = lab.experiment("hero")

        (started,) = lab.posted("Experiment started")
        assert started.token == f"xoxb-{lab.ws.team_id}-token"
        assert started.body["text"] == "Experiment hero started"
        header, section = started.body["blocks"]
        title = ":rocket: Experiment started: Test hero"
        assert header == {"type": "header", "text": {"type": "plain_text", "text": title,
                                                     "emoji": True}}  # fmt: skip
        assert section["text"]["type"] == "mrkdwn"
        assert "is now running with variants control, treatment" in section["text"]["text"]

        act(lab.api, experiment["id"], "stop", {"winner": "treatment", "reason": "clear win"})

        (stopped,) = lab.posted("Experiment stopped")
        text = _section_texts(stopped)
        assert "Decision: ship *treatment* (clear win)" in text

    def test_srm_detected__posted(self, lab: Lab) -> None:
        experiment = lab.experiment("srm")
        lab.send(_population("srm", {"control": 500, "treatment": 350},
                             {"control": (0.1, 0), "treatment": (0.1, 0)}))  # fmt: skip

        assert lab.results(experiment)["srm"]["srm_detected"] is True

        (srm,) = lab.posted("Sample ratio mismatch")
        assert srm.body["text"] == "Sample ratio mismatch in srm"
        assert "(control: 500, treatment: 350)" in _section_texts(srm)

    def test_primary_significant_and_guardrail_harmed__posted(self, lab: Lab) -> None:
        experiment = lab.experiment("win")
        lab.send(_population("win", {"control": 1500, "treatment": 1500},
                             {"control": (0.1, 0.1), "treatment": (0.3, 0.5)}))  # fmt: skip

        lab.results(experiment)

        (primary,) = lab.posted("Primary metric significant")
        assert "• *conversion* treatment: +" in _section_texts(primary)
        (harmed,) = lab.posted("Guardrail harmed")
        (blocked,) = lab.posted("Decision ready")
        assert "the results say do not ship." in _section_texts(blocked)
        assert "• `guardrail_harmed`:" in _section_texts(blocked)
        assert "• *errors* treatment: +" in _section_texts(harmed)
        assert (
            harmed.body["blocks"][0]["text"]["text"]
            == ":rotating_light: Guardrail harmed: Test win"
        )

    def test_decision_ready__posted_once_per_verdict(self, lab: Lab) -> None:
        experiment = lab.experiment("ship")
        lab.send(_population("ship", {"control": 1000, "treatment": 1000},
                             {"control": (0.1, 0), "treatment": (0.3, 0)}))  # fmt: skip

        lab.results(experiment)
        decision = lab.api.get(lab.api.org(f"/experiments/{experiment['id']}/decision"))

        assert decision.json()["data"]["decision"] == "ship"
        (ready,) = lab.posted("Decision ready")
        assert ready.body["text"] == "Decision ready for ship: ship"
        text = _section_texts(ready)
        assert "the results say ship *treatment*." in text
        assert "• `primary_improved`:" in text
        assert ready.body["blocks"][-1]["type"] == "context"
        time.sleep(0.5)  # the worker polls every 0.05 s: a second message would be posted
        assert len(lab.posted("Decision ready")) == 1

    def test_project_without_channel__nothing_posted(self, workspace: Workspace) -> None:
        project = create_project(workspace.api)
        metric = create_metric(workspace.api, project["id"])
        body = {"project_id": project["id"], "key": "quiet", "name": "Quiet",
                "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
                "metrics": {"primary": [metric["id"]]}}  # fmt: skip
        act(workspace.api, post(workspace.api, "/experiments", body)["id"], "start")

        status = workspace.api.get(workspace.api.org("/slack/status")).json()["data"]
        assert status["messages"] == {}


class TestDelivery:
    def test_transient_error__retried_until_sent(self, lab: Lab) -> None:
        lab.ws.slack.channel_errors[lab.channel] = ["ratelimited"]

        lab.experiment("flaky")

        calls = lab.posted("Experiment started", count=2)
        assert len(calls) == 2
        status = lab.api.get(lab.api.org("/slack/status")).json()["data"]
        assert status["messages"] == {"sent": 1}

    def test_permanent_error__failed_and_shown_in_status(self, lab: Lab) -> None:
        lab.ws.slack.channel_errors[lab.channel] = ["channel_not_found"]

        lab.experiment("gone")

        lab.posted("Experiment started")
        for _ in range(100):
            status = lab.api.get(lab.api.org("/slack/status")).json()["data"]
            if status["last_errors"]:
                break
            time.sleep(0.05)  # the worker records the answer just after Slack gave it
        (error,) = status["last_errors"]
        expected = {"kind": "experiment_started", "channel_id": lab.channel, "status": "failed",
                    "error": "chat.postMessage: channel_not_found"}  # fmt: skip
        assert error == {**error, **expected}
        assert status["messages"] == {"failed": 1}
        assert status["channels"] == [{**status["channels"][0], "channel_id": lab.channel}]


class TestDigest:
    def test_digest_now__running_experiments_with_results(self, lab: Lab) -> None:
        experiment = lab.experiment("digested")
        lab.send(_population("digested", {"control": 40, "treatment": 40},
                             {"control": (0.1, 0), "treatment": (0.1, 0)}))  # fmt: skip
        lab.results(experiment)

        r = lab.api.post(lab.api.org("/slack/digest"))

        assert r.status_code == 202, r.text
        assert r.json()["data"] == {"queued": 1}
        (digest,) = lab.posted("Weekly experiments digest")
        assert digest.body["text"] == "Weekly digest: 1 running experiment(s) in Project"
        text = _section_texts(digest)
        assert "/digested`" in text
        assert "80 units, 0 significant comparison(s)" in text

    def test_scheduled__queued_once_per_week_in_its_hour(
        self, lab: Lab, slack_env: SlackEnv
    ) -> None:
        lab.experiment("weekly")
        now = datetime.now(UTC)
        settings = slack_env.server.settings.model_copy(
            update={"slack_digest_weekday": now.weekday(), "slack_digest_hour": now.hour}
        )
        off_hour = now + timedelta(hours=1)

        assert slack_service.queue_due_digests(slack_env.env.db, settings, off_hour) == 0
        first = slack_service.queue_due_digests(slack_env.env.db, settings, now)
        again = slack_service.queue_due_digests(slack_env.env.db, settings, now)

        assert first >= 1
        assert again == 0
        (digest,) = lab.posted("Weekly experiments digest")
        assert "/weekly`" in _section_texts(digest)
