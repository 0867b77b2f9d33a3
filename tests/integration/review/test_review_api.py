"""Design review and hypotheses over HTTP: drafts, stored experiments (with the running
experiments around them), 422s, auth. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.design.factories import (
    act,
    create_experiment,
    create_group,
    create_metric,
    create_project,
    fields,
    variants,
)
from tests.support.servers import ApiClient, LiveServer, new_org_client

Json = dict[str, Any]
GOOD = "If we make the button blue, then purchase will increase because it stands out."
DRAFT: Json = {
    "hypothesis": GOOD,
    "variants": [
        {"key": "control", "weight": 50, "params": {"color": "grey"}},
        {"key": "treatment", "weight": 50, "params": {"color": "blue"}},
    ],
    "metrics": [
        {"key": "purchase", "role": "primary", "type": "binary", "baseline_value": 0.1},
        {"key": "errors", "role": "guardrail", "type": "count", "lower_is_better": True},
    ],
    "analysis": {"mde_pct": 10},
    "expected_daily_units": 10000,
    "planned_duration_days": 14,
}


def review(api: ApiClient, path: str, body: Json | None = None) -> Json:
    r = api.post(path, json=body)
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def by_code(data: Json) -> dict[str, Json]:
    return {f["code"]: f for f in data["findings"]}


class TestDraft:
    def test_sound_draft__ready(self, api: ApiClient) -> None:
        data = review(api, "/api/tools/review", DRAFT)
        assert [f["code"] for f in data["findings"]] == ["power_ok"]
        assert data["summary"] == {"status": "ready", "errors": 0, "warnings": 0, "infos": 1}
        assert data["llm"] is None  # no language model configured
        assert data["experiment_id"] is None

    def test_flawed_draft__every_problem_named(self, api: ApiClient) -> None:
        body = {
            **DRAFT,
            "hypothesis": "Blue is better",
            "variants": [
                {"key": "control", "weight": 25, "params": {"color": "grey"}},
                {"key": "a", "weight": 25, "params": {"color": "grey"}},
                {"key": "b", "weight": 25, "params": {"color": "blue"}},
                {"key": "c", "weight": 25, "params": {"color": "blue"}},
            ],
            "metrics": [
                {"key": "bounce_rate", "type": "binary", "baseline_value": 0.4,
                 "lower_is_better": True, "expected_direction": "increase"},
            ],
            "analysis": {"mde_pct": 5, "planned_looks": 7},
            "expected_daily_units": 2000,
            "exclusion_group_id": "layer_checkout",
            "traffic_percent": 50,
            "running_experiments": [
                {"key": "hero", "exclusion_group_id": "layer_checkout", "traffic_percent": 80},
                {"key": "header", "params": ["color"]},
            ],
        }  # fmt: skip
        data = review(api, "/api/tools/review", body)
        found = by_code(data)
        assert {
            "underpowered", "no_guardrail", "primary_direction", "unclear_hypothesis",
            "no_op_variant", "duplicate_variant", "peeking", "layer_full", "audience_collision",
        } <= set(found)  # fmt: skip
        assert found["no_op_variant"]["field"] == "variants.1.params"
        assert found["duplicate_variant"]["field"] == "variants.3.params"
        assert found["primary_direction"]["field"] == "metrics.0"
        assert found["layer_full"]["details"]["free_percent"] == pytest.approx(20)
        assert found["audience_collision"]["details"]["shared_params"] == ["color"]
        assert data["summary"]["status"] == "blocked"
        assert data["findings"][0]["severity"] == "error"

    def test_too_many_variants_for_the_traffic(self, api: ApiClient) -> None:
        four = [
            {"key": k, "weight": 25, "params": {"color": k}} for k in ("control", "a", "b", "c")
        ]
        # About 29,500 units power two arms at a 10% lift; 4 arms need far more.
        body = {**DRAFT, "variants": four, "expected_daily_units": 3000}
        found = by_code(review(api, "/api/tools/review", body))
        assert found["too_many_variants"]["details"]["variants_that_fit"] in (2, 3)
        assert "too_many_variants" not in by_code(review(api, "/api/tools/review", DRAFT))

    @pytest.mark.parametrize(
        ("change", "path"),
        [
            ({"variants": [{"key": "a", "weight": 60}, {"key": "b", "weight": 60}]}, "variants"),
            ({"variants": [{"key": "a", "weight": 50}, {"key": "a", "weight": 50}]}, "variants"),
            ({"metrics": [{"key": "m", "baseline_value": 1.5}]}, "metrics.0"),
            ({"metrics": [{"key": "m", "type": "sum", "baseline_value": -3}]}, "metrics.0"),
            ({"analysis": {"alpha": 0.3, "power": 0.2}}, "analysis"),
            ({"analysis": {"planned_looks": 0}}, "analysis.planned_looks"),
            ({"analysis": {"stopping_rule": "sequential"}}, "analysis"),
            ({"expected_daily_units": 0}, "expected_daily_units"),
            ({"traffic_percent": 101}, "traffic_percent"),
            ({"surprise": 1}, "surprise"),
            ({"variants": [{"key": "only", "weight": 100}]}, "variants"),
        ],
    )
    def test_bad_draft__422_at_the_field(self, api: ApiClient, change: Json, path: str) -> None:
        r = api.post("/api/tools/review", json={**DRAFT, **change})
        assert any(p.startswith(path) for p in fields(r)), r.text
        assert r.json()["error"]["code"] == "validation_error"

    def test_nan__422_not_500(self, api: ApiClient) -> None:
        raw = '{"variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}], ' \
              '"expected_daily_units": NaN}'  # fmt: skip
        r = api.post("/api/tools/review", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text

    def test_impossible_lift__a_finding_not_an_error(self, api: ApiClient) -> None:
        body = {**DRAFT, "analysis": {"mde_pct": 2000}}
        found = by_code(review(api, "/api/tools/review", body))
        assert found["power_not_computed"]["severity"] == "warning"

    def test_without_a_token__401(self, live_server: LiveServer) -> None:
        with live_server.client() as anonymous:
            assert anonymous.post("/api/tools/review", json=DRAFT).status_code == 401
            body = {"goal": "conversion"}
            assert anonymous.post("/api/tools/hypotheses", json=body).status_code == 401


class TestHypotheses:
    def test_suggestions_by_goal(self, api: ApiClient) -> None:
        body = {"goal": "retention", "context": "the settings page", "count": 2}
        data = review(api, "/api/tools/hypotheses", body)
        assert data["goal"] == "retention"
        assert data["llm"] is None
        assert len(data["suggestions"]) == 2
        for s in data["suggestions"]:
            assert s["hypothesis"].startswith("If we ")
            assert "the settings page" in s["hypothesis"]
            assert s["guardrail_metrics"]
        again = review(api, "/api/tools/hypotheses", body)
        assert again == data  # deterministic

    def test_a_suggestion_passes_the_review(self, api: ApiClient) -> None:
        (s,) = review(api, "/api/tools/hypotheses", {"goal": "performance", "count": 1})[
            "suggestions"
        ]
        metrics = [
            {"key": s["primary_metric"], "baseline_value": 0.3,
             "lower_is_better": s["lower_is_better"]},
            *({"key": g, "role": "guardrail"} for g in s["guardrail_metrics"]),
        ]  # fmt: skip
        body = {**DRAFT, "hypothesis": s["hypothesis"], "metrics": metrics}
        found = by_code(review(api, "/api/tools/review", body))
        assert {"unclear_hypothesis", "primary_direction", "no_guardrail"}.isdisjoint(found)

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"goal": "happiness"}, "goal"),
            ({"goal": "revenue", "count": 0}, "count"),
            ({"goal": "revenue", "count": 11}, "count"),
            ({}, "goal"),
        ],
    )
    def test_bad_request__422(self, api: ApiClient, body: Json, path: str) -> None:
        assert path in fields(api.post("/api/tools/hypotheses", json=body))


def _metrics(api: ApiClient, pid: str) -> tuple[Json, Json]:
    purchase = create_metric(api, pid, key="purchase", name="Purchase")
    errors = create_metric(
        api, pid, key="errors", name="Errors", type="count", event_name="error",
        lower_is_better=True,
    )  # fmt: skip
    return purchase, errors


class TestStoredExperiment:
    def test_collisions_with_running_experiments_and_the_plan(self, api: ApiClient) -> None:
        pid = create_project(api)["id"]
        purchase, _errors = _metrics(api, pid)
        group = create_group(api, pid)
        layer_mate = create_experiment(
            api, pid, exclusion_group_id=group["id"], traffic_percent=60,
            variants=variants({"headline": "a"}, {"headline": "b"}),
        )  # fmt: skip
        act(api, layer_mate["id"], "start")
        outside = create_experiment(api, pid, variants=variants({"color": "x"}, {"color": "y"}))
        act(api, outside["id"], "start")
        create_experiment(api, pid, variants=variants({"color": "p"}, {"color": "q"}))  # a draft
        target = create_experiment(
            api, pid, exclusion_group_id=group["id"], traffic_percent=40,
            hypothesis="Blue converts better",
            metrics={"primary": [purchase["id"]], "secondary": [], "guardrail": []},
            analysis={"mde_pct": 10},
        )  # fmt: skip
        before = api.get(api.org(f"/experiments/{target['id']}")).json()["data"]
        body = {
            "expected_daily_units": 1000,
            "planned_duration_days": 7,
            "baselines": {purchase["id"]: {"baseline_value": 0.1}},
            "planned_looks": 5,
        }
        data = review(api, api.org(f"/experiments/{target['id']}/review"), body)
        found = by_code(data)
        assert data["experiment_id"] == target["id"]
        layer = found["layer_shared"]["details"]
        assert layer["experiments"] == [layer_mate["id"]]
        assert layer["used_percent"] == pytest.approx(60)
        assert layer["free_percent"] == pytest.approx(40)
        collision = found["audience_collision"]
        assert collision["details"] == {"experiment": outside["id"], "shared_params": ["color"]}
        assert len([f for f in data["findings"] if f["code"].startswith("audience")]) == 1
        under = found["underpowered"]
        assert under["severity"] == "error"
        assert under["details"]["available_total"] == 2800  # 1,000 a day x 40% x 7 days
        assert {"no_guardrail", "unclear_hypothesis", "peeking"} <= set(found)
        assert found["no_guardrail"]["field"] == "metrics"
        # A read: the experiment is unchanged.
        after = api.get(api.org(f"/experiments/{target['id']}")).json()["data"]
        assert after == before

    def test_sound_experiment__ready(self, api: ApiClient) -> None:
        pid = create_project(api)["id"]
        purchase, errors = _metrics(api, pid)
        target = create_experiment(
            api, pid, hypothesis=GOOD,
            metrics={"primary": [purchase["id"]], "secondary": [], "guardrail": [errors["id"]]},
            analysis={"mde_pct": 10, "planned_sample_size": 20000},
        )  # fmt: skip
        body = {"baselines": {purchase["id"]: {"baseline_value": 0.1}}}
        data = review(api, api.org(f"/experiments/{target['id']}/review"), body)
        assert [f["code"] for f in data["findings"]] == ["power_ok"]
        assert data["summary"]["status"] == "ready"

    def test_lower_is_better_primary_against_the_hypothesis(self, api: ApiClient) -> None:
        pid = create_project(api)["id"]
        _purchase, errors = _metrics(api, pid)
        target = create_experiment(
            api, pid, hypothesis="If we add retries, then errors will increase because of load.",
            metrics={"primary": [errors["id"]], "secondary": [], "guardrail": []},
        )  # fmt: skip
        found = by_code(review(api, api.org(f"/experiments/{target['id']}/review")))
        assert found["primary_direction"]["field"] == "metrics.primary.0"
        # No body: the baseline and traffic are unknown, and the horizon is unset.
        assert {"baseline_unknown", "peeking_risk"} <= set(found)

    def test_variants__no_op_and_too_many_for_the_traffic(self, api: ApiClient) -> None:
        pid = create_project(api)["id"]
        purchase, errors = _metrics(api, pid)
        target = create_experiment(
            api, pid, hypothesis=GOOD,
            variants=variants({"color": "grey"}, {"color": "grey"}, {"color": "blue"},
                              {"color": "red"}),
            metrics={"primary": [purchase["id"]], "secondary": [], "guardrail": [errors["id"]]},
            analysis={"mde_pct": 10, "planned_sample_size": 9000},
        )  # fmt: skip
        body = {"baselines": {purchase["id"]: {"baseline_value": 0.1}}}
        found = by_code(review(api, api.org(f"/experiments/{target['id']}/review"), body))
        assert found["no_op_variant"]["field"] == "variants.1.params"
        # 4 x 9,000 = 36,000 units: two arms need about 29,500, four need far more.
        assert found["underpowered"]["details"]["available_total"] == 36000
        assert found["too_many_variants"]["details"]["variants_that_fit"] == 2

    def test_bad_facts__422(self, api: ApiClient) -> None:
        pid = create_project(api)["id"]
        purchase, _errors = _metrics(api, pid)
        target = create_experiment(
            api, pid, metrics={"primary": [purchase["id"]], "secondary": [], "guardrail": []}
        )
        path = api.org(f"/experiments/{target['id']}/review")
        high = {"baselines": {purchase["id"]: {"baseline_value": 1.5}}}
        assert fields(api.post(path, json=high)) == [f"baselines.{purchase['id']}.baseline_value"]
        stranger = {"baselines": {"met_nope": {"baseline_value": 0.1}}}
        assert fields(api.post(path, json=stranger)) == ["baselines.met_nope"]
        assert "expected_daily_units" in fields(api.post(path, json={"expected_daily_units": -1}))

    def test_unknown_or_foreign_experiment__404(
        self, api: ApiClient, live_server: LiveServer
    ) -> None:
        target = create_experiment(api, create_project(api)["id"])
        assert api.post(api.org("/experiments/exp_nope/review")).status_code == 404
        with new_org_client(live_server) as other:
            foreign = other.post(other.org(f"/experiments/{target['id']}/review"))
            assert foreign.status_code == 404

    def test_scope__experiments_read_is_enough_and_needed(self, live_server: LiveServer) -> None:
        with new_org_client(live_server) as api:
            target = create_experiment(api, create_project(api)["id"])
            path = f"/experiments/{target['id']}/review"
            with api.server.admin() as admin:
                for scopes, status in ((["experiments:read"], 200), (["projects:read"], 403)):
                    tok = admin.post(
                        api.org("/tokens"), json={"name": "t", "scopes": scopes}
                    ).json()["data"]["token"]
                    with live_server.client(tok) as client:
                        assert client.post(api.org(path)).status_code == status
