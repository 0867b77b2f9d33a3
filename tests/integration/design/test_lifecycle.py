"""Experiment lifecycle: transitions, frozen design while running, traffic raises, analysis
plan versions, the stop decision with a rollout through a bound flag, and webhooks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def _post(api: ApiClient, experiment: f.Json, action: str, body: Any = None) -> Any:
    return api.post(api.org(f"/experiments/{experiment['id']}/{action}"), json=body)


def _patch(api: ApiClient, experiment: f.Json, body: f.Json) -> Any:
    return api.patch(api.org(f"/experiments/{experiment['id']}"), json=body)


class TestTransitions:
    def test_full_lifecycle__statuses_times_audit_and_webhooks(
        self, api: ApiClient, project: f.Json, emitted: list[tuple[str, f.Json]]
    ) -> None:
        exp = f.create_experiment(api, project["id"])
        started = f.act(api, exp["id"], "start")
        assert started["status"] == "running"
        assert started["started_at"] is not None
        assert f.act(api, exp["id"], "pause")["status"] == "paused"
        assert f.act(api, exp["id"], "start")["status"] == "running"
        stopped = f.act(api, exp["id"], "stop")
        assert stopped["status"] == "stopped"
        assert stopped["decision"]["winner"] is None
        archived = f.act(api, exp["id"], "archive")
        assert archived["status"] == "archived"
        assert archived["archived_at"] is not None

        ours = [event for event, data in emitted if data["id"] == exp["id"]]
        assert ours == [
            "experiment.started",
            "experiment.paused",
            "experiment.started",
            "experiment.stopped",
            "experiment.archived",
        ]
        audit = api.get(api.org("/audit"), params={"resource_id": exp["id"]}).json()["data"]
        assert [e["action"] for e in audit][1:] == ours
        assert audit[1]["diff"]["status"] == {"from": "draft", "to": "running"}

    @pytest.mark.parametrize(
        ("steps", "action"),
        [
            ([], "pause"),
            ([], "stop"),
            (["start"], "start"),
            (["start"], "archive"),
            (["start", "pause"], "pause"),
            (["start", "stop"], "start"),
            (["start", "stop"], "pause"),
            (["start", "stop"], "stop"),
            (["archive"], "start"),
            (["archive"], "archive"),
        ],
    )
    def test_illegal__409_invalid_transition(
        self, api: ApiClient, project: f.Json, steps: list[str], action: str
    ) -> None:
        exp = f.create_experiment(api, project["id"])
        for step in steps:
            f.act(api, exp["id"], step)
        refused = _post(api, exp, action)
        assert refused.status_code == 409
        assert f.code(refused) == "invalid_transition"

    def test_draft__archived_directly(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        assert f.act(api, exp["id"], "archive")["status"] == "archived"

    def test_transition__if_match_checked(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        stale = api.post(api.org(f"/experiments/{exp['id']}/start"), headers={"If-Match": 'W/"00"'})
        assert stale.status_code == 412

    def test_stopped_with_plans__deleted(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        f.act(api, exp["id"], "start")
        f.act(api, exp["id"], "stop")
        assert api.delete(api.org(f"/experiments/{exp['id']}")).status_code == 204
        assert api.get(api.org(f"/experiments/{exp['id']}/plans")).status_code == 404

    def test_running__cannot_be_deleted(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        f.act(api, exp["id"], "start")
        refused = api.delete(api.org(f"/experiments/{exp['id']}"))
        assert refused.status_code == 409
        assert f.code(refused) == "experiment_running"


class TestFrozenWhileRunning:
    @pytest.mark.parametrize("status", ["running", "paused"])
    def test_assignment_fields__409_experiment_running(
        self, api: ApiClient, project: f.Json, status: str
    ) -> None:
        group = f.create_group(api, project["id"])
        audience = f.create_audience(api, project["id"])
        exp = f.create_experiment(api, project["id"])
        f.act(api, exp["id"], "start")
        if status == "paused":
            f.act(api, exp["id"], "pause")
        changes: list[f.Json] = [
            {"variants": f.variants({"color": "red"}, {"color": "green"})},
            {"variants": [{**v, "weight": w} for v, w in zip(f.variants(), (40, 60), strict=True)]},
            {"salt": "another_salt_1"},
            {"exclusion_group_id": group["id"]},
            {"audience_id": audience["id"]},
            {"key": "renamed_key"},
            {"traffic_percent": 50},
        ]
        for change in changes:
            refused = _patch(api, exp, change)
            assert refused.status_code == 409, change
            assert f.code(refused) == "experiment_running"
            assert refused.json()["error"]["details"]["field"] == next(iter(change))

    def test_unchanged_values_name_and_traffic_raise__allowed(
        self, api: ApiClient, project: f.Json
    ) -> None:
        exp = f.create_experiment(api, project["id"], traffic_percent=20)
        f.act(api, exp["id"], "start")
        same = [{k: v[k] for k in ("key", "weight", "params")} for v in exp["variants"]]
        ok = _patch(api, exp, {"variants": same, "name": "New name", "traffic_percent": 35})
        assert ok.status_code == 200, ok.text
        data = ok.json()["data"]
        assert (data["traffic_percent"], data["name"]) == (35, "New name")
        assert data["variants"] == exp["variants"]

    def test_stopped__design_and_traffic_frozen(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"], traffic_percent=20)
        f.act(api, exp["id"], "start")
        f.act(api, exp["id"], "stop")
        refused = _patch(api, exp, {"traffic_percent": 30})
        assert refused.status_code == 409
        assert f.code(refused) == "experiment_finished"

    def test_restore_of_other_variants_while_running__409(
        self, api: ApiClient, project: f.Json
    ) -> None:
        exp = f.create_experiment(api, project["id"])
        three = f.variants({"color": "red"}, {"color": "blue"}, {"color": "green"})
        assert _patch(api, exp, {"variants": three}).status_code == 200
        f.act(api, exp["id"], "start")
        refused = api.post(api.org(f"/experiments/{exp['id']}/revisions/1/restore"))
        assert refused.status_code == 409
        assert f.code(refused) == "experiment_running"
        got = api.get(api.org(f"/experiments/{exp['id']}")).json()["data"]
        assert len(got["variants"]) == 3


class TestLayers:
    def test_layer_full__on_create_and_on_raise(self, api: ApiClient, project: f.Json) -> None:
        group = f.create_group(api, project["id"])
        first = f.create_experiment(
            api, project["id"], exclusion_group_id=group["id"], traffic_percent=60
        )
        assert first["allocation"] == [[0, 6000]]
        too_much = api.post(
            api.org("/experiments"),
            json=f.experiment_body(
                project["id"], exclusion_group_id=group["id"], traffic_percent=50
            ),
        )
        assert too_much.status_code == 409
        assert f.code(too_much) == "layer_full"
        assert too_much.json()["error"]["details"]["free_percent"] == 40
        second = f.create_experiment(
            api, project["id"], exclusion_group_id=group["id"], traffic_percent=40
        )
        assert second["allocation"] == [[6000, 10000]]

        f.act(api, first["id"], "start")
        refused = _patch(api, first, {"traffic_percent": 70})
        assert refused.status_code == 409
        assert f.code(refused) == "layer_full"

    def test_raise__adds_ranges_never_moves_existing(self, api: ApiClient, project: f.Json) -> None:
        group = f.create_group(api, project["id"])
        a = f.create_experiment(
            api, project["id"], exclusion_group_id=group["id"], traffic_percent=30
        )
        b = f.create_experiment(
            api, project["id"], exclusion_group_id=group["id"], traffic_percent=20
        )
        f.act(api, a["id"], "start")
        f.act(api, b["id"], "start")
        raised = _patch(api, a, {"traffic_percent": 45.5})
        assert raised.status_code == 200, raised.text
        assert raised.json()["data"]["allocation"] == [[0, 3000], [5000, 6550]]
        got_b = api.get(api.org(f"/experiments/{b['id']}")).json()["data"]
        assert got_b["allocation"] == [[3000, 5000]]

    def test_archive_frees_buckets__draft_moves_between_groups(
        self, api: ApiClient, project: f.Json
    ) -> None:
        group, other = f.create_group(api, project["id"]), f.create_group(api, project["id"])
        a = f.create_experiment(api, project["id"], exclusion_group_id=group["id"])
        blocked = f.create_experiment(api, project["id"], exclusion_group_id=other["id"])
        assert f.code(_patch(api, blocked, {"exclusion_group_id": group["id"]})) == "layer_full"
        f.act(api, a["id"], "archive")
        moved = _patch(api, blocked, {"exclusion_group_id": group["id"], "traffic_percent": 25})
        assert moved.status_code == 200, moved.text
        assert moved.json()["data"]["allocation"] == [[0, 2500]]
        left = _patch(api, blocked, {"exclusion_group_id": None})
        assert left.json()["data"]["allocation"] is None

    def test_restore_of_a_draft__reallocates(self, api: ApiClient, project: f.Json) -> None:
        group = f.create_group(api, project["id"])
        exp = f.create_experiment(
            api, project["id"], exclusion_group_id=group["id"], traffic_percent=30
        )
        assert _patch(api, exp, {"traffic_percent": 50}).json()["data"]["allocation"] == [[0, 5000]]
        restored = api.post(api.org(f"/experiments/{exp['id']}/revisions/1/restore"))
        assert restored.status_code == 200, restored.text
        assert restored.json()["data"]["allocation"] == [[0, 3000]]
        got = api.get(api.org(f"/experiments/{exp['id']}"))
        assert got.headers["etag"] == restored.headers["etag"]

    def test_group_with_experiments__cannot_be_deleted(
        self, api: ApiClient, project: f.Json
    ) -> None:
        group = f.create_group(api, project["id"])
        f.create_experiment(api, project["id"], exclusion_group_id=group["id"])
        refused = api.delete(api.org(f"/exclusion-groups/{group['id']}"))
        assert refused.status_code == 409


class TestPlans:
    def test_start_pins_v1__running_changes_add_versions(
        self, api: ApiClient, project: f.Json
    ) -> None:
        m1, m2 = f.create_metric(api, project["id"]), f.create_metric(api, project["id"])
        exp = f.create_experiment(
            api,
            project["id"],
            metrics={"primary": [m1["id"]]},
            analysis={"alpha": 0.05, "planned_sample_size": 5000},
        )
        plans_url = api.org(f"/experiments/{exp['id']}/plans")
        assert api.get(plans_url).json()["data"] == []
        f.act(api, exp["id"], "start")
        assert _patch(api, exp, {"name": "Renamed"}).status_code == 200
        assert _patch(api, exp, {"analysis": {"alpha": 0.01}}).status_code == 200
        metrics = {"primary": [m1["id"]], "guardrail": [m2["id"]]}
        assert _patch(api, exp, {"metrics": metrics}).status_code == 200
        f.act(api, exp["id"], "pause")
        f.act(api, exp["id"], "start")

        plans = api.get(plans_url).json()["data"]
        assert [p["version"] for p in plans] == [1, 2, 3]
        original, current = plans[0]["plan"], plans[-1]["plan"]
        assert original["alpha"] == 0.05
        assert original["planned_sample_size"] == 5000
        assert original["metrics"]["primary"] == [m1["id"]]
        assert original["stopping_rule"] == "fixed_horizon"
        assert [v["key"] for v in original["variants"]] == ["control", "treatment_1"]
        assert current["alpha"] == 0.01
        assert current["metrics"]["guardrail"] == [m2["id"]]
        assert plans[0]["actor_type"] == "token"

    def test_metric_in_use__cannot_be_deleted(self, api: ApiClient, project: f.Json) -> None:
        metric = f.create_metric(api, project["id"])
        f.create_experiment(api, project["id"], metrics={"secondary": [metric["id"]]})
        assert api.delete(api.org(f"/metrics/{metric['id']}")).status_code == 409


class TestStopDecision:
    def test_winner_rolled_out_through_bound_flag(
        self, api: ApiClient, project: f.Json, emitted: list[tuple[str, f.Json]]
    ) -> None:
        exp = f.create_experiment(api, project["id"])
        flag = f.create_flag(api, project["id"], experiment_id=exp["id"], experiment_param="color")
        f.act(api, exp["id"], "start")
        body = {"winner": "treatment_1", "reason": "Blue won", "rollout_flag_id": flag["id"]}
        stopped = f.act(api, exp["id"], "stop", body)

        decision = stopped["decision"]
        assert (decision["winner"], decision["reason"]) == ("treatment_1", "Blue won")
        assert decision["rollout_flag_id"] == flag["id"]
        assert decision["actor_type"] == "token"
        assert decision["decided_at"] == stopped["stopped_at"]
        rolled = api.get(api.org(f"/flags/{flag['id']}")).json()["data"]
        assert rolled["default_value"] == "blue"
        assert (rolled["experiment_id"], rolled["experiment_param"]) == (None, None)
        audit = api.get(api.org("/audit"), params={"resource_id": flag["id"]}).json()["data"]
        assert audit[-1]["action"] == "flag.updated"
        assert audit[-1]["diff"]["default_value"] == {"from": "red", "to": "blue"}
        assert ("flag.updated", rolled) in emitted

    def test_rollout_converts_to_the_flag_type(self, api: ApiClient, project: f.Json) -> None:
        params = ({"on": "false", "size": "10"}, {"on": "true", "size": "12.5"})
        exp = f.create_experiment(api, project["id"], variants=f.variants(*params))
        on = f.create_flag(
            api, project["id"], type="boolean", default_value=False,
            experiment_id=exp["id"], experiment_param="on",
        )  # fmt: skip
        f.act(api, exp["id"], "start")
        f.act(api, exp["id"], "stop", {"winner": "treatment_1", "rollout_flag_id": on["id"]})
        assert api.get(api.org(f"/flags/{on['id']}")).json()["data"]["default_value"] is True

    def test_bad_decisions__422_and_nothing_changes(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        loose = f.create_flag(api, project["id"])
        bound = f.create_flag(api, project["id"], experiment_id=exp["id"], experiment_param="color")
        f.act(api, exp["id"], "start")
        cases = [
            ({"winner": "nobody"}, "winner"),
            ({"rollout_flag_id": bound["id"]}, "rollout_flag_id"),
            ({"winner": "control", "rollout_flag_id": loose["id"]}, "rollout_flag_id"),
            ({"winner": "control", "rollout_flag_id": "flg_nope"}, "rollout_flag_id"),
            ({"winner": "control", "extra": 1}, "extra"),
        ]
        for body, path in cases:
            assert f.fields(_post(api, exp, "stop", body)) == [path]
        assert api.get(api.org(f"/experiments/{exp['id']}")).json()["data"]["status"] == "running"

    def test_experiment_with_bound_flag__cannot_be_deleted(
        self, api: ApiClient, project: f.Json
    ) -> None:
        exp = f.create_experiment(api, project["id"])
        f.create_flag(api, project["id"], experiment_id=exp["id"], experiment_param="color")
        assert api.delete(api.org(f"/experiments/{exp['id']}")).status_code == 409
