"""`POST /abc/get_experiments` and `/abc/get_feature_flags`: seed 002 field by field."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from avsb.server.evaluation_api import abc_routes
from avsb.server.models import Audience
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    SdkKey,
    abc,
    bearer,
    create_sdk_key,
    keyed_project,
    runtime,
    settle,
    signed,
)
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

US_ADULT = {"country": {"user_attrs": ["US"]}, "age": {"user_attrs": ["18"]}}


def _variant(experiment: f.Json, key: str) -> f.Json:
    found: f.Json = next(v for v in experiment["variants"] if v["key"] == key)
    return found


class TestGetExperiments:
    def test_answer__keyed_by_layer__assigned_and_default(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        body = {"project_id": basic["project"]["id"], "unit_id": "user_id_1", "profiles": US_ADULT}
        r = abc(org, "get_experiments", key, body)
        assert r.status_code == 200
        answer = r.json()
        assert set(answer) == {"ret_code", "msg", "exp_data"}
        assert answer["ret_code"] == 100
        assert answer["msg"] == ""
        layers = answer["exp_data"]
        button, targeted = basic["button"], basic["targeted"]
        assert set(layers) == {basic["layer"]["key"], basic["empty"]["key"], targeted["key"]}
        got = layers[basic["layer"]["key"]]
        assert set(got) == {"experiment_key", "group_id", "group_key", "params"}
        assert got["experiment_key"] == button["key"]
        variant = _variant(button, got["group_key"])
        assert got["group_id"] == variant["group_id"]
        assert got["params"] == variant["params"]
        assert all(isinstance(v, str) for v in got["params"].values())
        default = {"experiment_key": "default", "group_id": -1, "group_key": "default",
                   "params": {}}  # fmt: skip
        assert layers[basic["empty"]["key"]] == default
        assert layers[targeted["key"]]["experiment_key"] == targeted["key"]

    def test_profiles__audience_not_matched__default(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        profiles = {"country": {"user_attrs": ["DE"]}}
        body = {"project_id": basic["project"]["id"], "unit_id": "u2", "profiles": profiles}
        layers = abc(org, "get_experiments", key, body).json()["exp_data"]
        assert layers[basic["targeted"]["key"]]["group_id"] == -1

    def test_project_key__accepted_like_its_id(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        by_id = {"project_id": basic["project"]["id"], "unit_id": "u3"}
        by_key = {"project_id": basic["project"]["key"], "unit_id": "u3"}
        first = abc(org, "get_experiments", key, by_id).json()
        assert first == abc(org, "get_experiments", key, by_key).json()

    def test_filter_options__layer_keys__only_those_layers(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        wanted = [basic["empty"]["key"], "no_such_layer"]
        body = {"project_id": basic["project"]["id"], "unit_id": "u4",
                "filter_options": {"layer_keys": wanted}}  # fmt: skip
        assert set(abc(org, "get_experiments", key, body).json()["exp_data"]) == {wanted[0]}

    def test_filter_options__experiment_keys__only_their_layers(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        body = {"project_id": basic["project"]["id"], "unit_id": "u5",
                "filter_options": {"experiment_keys": [basic["button"]["key"]]}}  # fmt: skip
        layers = abc(org, "get_experiments", key, body).json()["exp_data"]
        assert set(layers) == {basic["layer"]["key"]}
        assert layers[basic["layer"]["key"]]["experiment_key"] == basic["button"]["key"]


class TestGetFeatureFlags:
    def test_bound_and_standalone__relative_experiment_and_string_values(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        flags = basic["flags"]
        names = [flags[n]["key"] for n in ("bound", "plain", "numeric", "blob")]
        body = {"project_id": basic["project"]["id"], "unit_id": "user_id_1",
                "feature_names": [*names, "no_such_flag"], "profiles": US_ADULT}  # fmt: skip
        answer = abc(org, "get_feature_flags", key, body).json()
        assert answer["ret_code"] == 100
        data = answer["data"]
        assert set(data) == set(names)  # a name that is no flag is left out
        bound = data[flags["bound"]["key"]]
        assert set(bound) == {"name", "value", "relative_experiment"}
        relative = bound["relative_experiment"]
        assert set(relative) == {"group_id", "group_key", "exp_key", "params"}
        variant = _variant(basic["button"], relative["group_key"])
        assert relative["exp_key"] == basic["button"]["key"]
        assert relative["group_id"] == variant["group_id"]
        # seed 002: the params of the flag's answer are {flag name: value}
        assert relative["params"] == {flags["bound"]["key"]: variant["params"]["color"]}
        assert bound == {"name": flags["bound"]["key"], "value": variant["params"]["color"],
                         "relative_experiment": relative}  # fmt: skip
        assert data[flags["plain"]["key"]] == {
            "name": flags["plain"]["key"], "value": "true", "relative_experiment": None,
        }  # fmt: skip
        assert data[flags["numeric"]["key"]]["value"] == "20"
        assert data[flags["blob"]["key"]]["value"] == '{"a":[1,2]}'


class TestRetCodes:
    def test_project_id_missing__103(self, org: ApiClient, key: SdkKey) -> None:
        for body in ({"unit_id": "u1"}, {"project_id": "", "unit_id": "u1"}):
            answer = abc(org, "get_experiments", key, body)
            assert answer.status_code == 200
            assert answer.json()["ret_code"] == 103
            assert answer.json()["msg"]

    @pytest.mark.parametrize("stamp", [b"\xb2", b"1" * 5000, b"-1", b"17.5"])
    def test_unparsable_timestamp__101_not_server_error(
        self, org: ApiClient, key: SdkKey, stamp: bytes
    ) -> None:
        # '\xb2' ('²') passes str.isdigit() but not int(); 5,000 digits pass the int-str limit.
        headers = {k.encode(): v.encode() for k, v in signed(key).items()} | {b"X-Et": stamp}
        body = {"project_id": "prj_x", "unit_id": "u1"}
        answer = org.post("/abc/get_experiments", json=body, headers=headers)
        assert answer.status_code == 200
        assert answer.json()["ret_code"] == 101

    def test_unknown_project__101(self, org: ApiClient, key: SdkKey) -> None:
        answer = abc(org, "get_feature_flags", key, {"project_id": "prj_nope", "unit_id": "u1",
                                                     "feature_names": []})  # fmt: skip
        assert answer.status_code == 200
        assert answer.json()["ret_code"] == 101

    @pytest.mark.parametrize(
        ("route", "body", "field"),
        [
            ("get_experiments", b"{not json", None),
            ("get_experiments", b"[1, 2]", None),
            ("get_experiments", {"unit_id": 7}, "unit_id"),
            ("get_experiments", {}, "unit_id"),
            ("get_experiments", {"unit_id": "u", "filter_options": []}, "filter_options"),
            ("get_experiments", {"unit_id": "u", "filter_options": {"layer_keys": "x"}},
             "filter_options.layer_keys"),
            ("get_feature_flags", {"unit_id": "u"}, "feature_names"),
            ("get_feature_flags", {"unit_id": "u", "feature_names": [1]}, "feature_names"),
            ("get_experiments", {"unit_id": "u", "profiles": ["age", "18"]}, "profiles"),
            ("get_experiments", {"unit_id": "u", "profiles": {"age": "18"}}, "profiles.age"),
            ("get_experiments", {"unit_id": "u", "profiles": {"age": {"user_attrs": "18"}}},
             "profiles.age.user_attrs"),
            ("get_feature_flags", {"unit_id": "u", "feature_names": [],
                                   "profiles": {"country": {"user_attrs": ["US"]},
                                                "age": {"user_attrs": [18]}}},
             "profiles.age.user_attrs"),
        ],
    )  # fmt: skip
    def test_malformed_body__400_with_ret_code_and_field(
        self, org: ApiClient, basic: f.Json, key: SdkKey, route: str, body: Any, field: str | None
    ) -> None:
        if isinstance(body, dict):
            body = httpx.Request("POST", "/", json={"project_id": basic["project"]["id"], **body})
            body = body.content
        r = org.post(f"/abc/{route}", content=body, headers=signed(key))
        assert r.status_code == 400
        assert r.json()["ret_code"] == 0
        assert r.json()["msg"]
        assert r.json().get("field") == field

    def test_profile_without_user_attrs__attribute_absent(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        body = {"project_id": basic["project"]["id"], "unit_id": "u2",
                "profiles": {"country": {}, "age": {"user_attrs": ["18"]}}}  # fmt: skip
        answer = abc(org, "get_experiments", key, body).json()
        assert answer["ret_code"] == 100
        assert answer["exp_data"][basic["targeted"]["key"]]["group_id"] == -1

    def test_traffic_limit__102_with_retry_after(self, servers: ServerFactory) -> None:
        server = servers.start(evaluation_rate_limit_per_minute=60, evaluation_rate_limit_burst=1)
        try:
            with new_org_client(server) as limited:
                sdk = keyed_project(limited)
                body = {"project_id": sdk.project_id, "unit_id": "u1"}
                first = abc(limited, "get_experiments", sdk, body)
                second = abc(limited, "get_experiments", sdk, body)
        finally:
            server.stop()
        assert first.json()["ret_code"] == 100
        assert first.headers["x-ratelimit-limit"] == "60"
        assert second.status_code == 200
        assert second.json()["ret_code"] == 102
        assert int(second.headers["retry-after"]) >= 1

    def test_chunked_body_over_the_limit__413(self, servers: ServerFactory) -> None:
        server = servers.start(max_body_bytes=1024)
        try:
            with new_org_client(server) as small:
                sdk = keyed_project(small)
                abc_answer = small.post("/abc/get_experiments", headers=signed(sdk),
                                        content=iter([b" " * 800, b" " * 800]))  # fmt: skip
                ofrep = small.post("/ofrep/v1/evaluate/flags/x", headers=bearer(sdk),
                                   content=iter([b" " * 800, b" " * 800]))  # fmt: skip
        finally:
            server.stop()
        assert (abc_answer.status_code, abc_answer.json()["ret_code"]) == (413, 0)
        assert (ofrep.status_code, set(ofrep.json())) == (413, {"errorDetails"})

    def test_config_not_compiled__105_retry_then_100(
        self, org: ApiClient, live_server: LiveServer, servers: ServerFactory
    ) -> None:
        # Given: a project whose stored rule RE2 cannot compile (a lookahead saved before RE2
        # refused it), so a server starting now has no compiled config for it
        pid = f.create_project(org)["id"]
        tree = {"attribute": "name", "operator": "regex", "value": "^a"}
        audience = f.create_audience(org, pid, conditions=tree)
        sdk = create_sdk_key(org, pid)
        legacy = {**tree, "value": "^(?=a)"}
        with runtime(live_server).db.transaction() as session:
            stmt = update(Audience).where(Audience.id == audience["id"])
            session.execute(stmt.values(conditions=legacy))
        fresh = servers.start()
        try:
            with fresh.client() as client:
                body = {"project_id": pid, "unit_id": "u1"}
                # When: it is asked for the project
                waiting = abc(client, "get_experiments", sdk, body)
                # Then: 105, a server error to retry (seed 002), not 101 (fix the key)
                assert (waiting.status_code, waiting.json()["ret_code"]) == (200, 105)
                assert waiting.json()["msg"]
                # and the other evaluation routes say 503 "retry", not "no such flag" / "no
                # flags" (a client would serve its defaults as if they were the answers)
                ofrep = client.post("/ofrep/v1/evaluate/flags/any", json={}, headers=bearer(sdk))
                bulk = client.post("/ofrep/v1/evaluate/flags", json={}, headers=bearer(sdk))
                config = client.get("/api/sdk/config", headers=bearer(sdk))
                for refused in (ofrep, bulk, config):
                    assert refused.status_code == 503, refused.text
                    assert refused.headers["retry-after"] == "1"
                assert config.json()["error"]["code"] == "config_not_ready"
                patch = org.patch(org.org(f"/audiences/{audience['id']}"),
                                  json={"conditions": tree})  # fmt: skip
                assert patch.status_code == 200, patch.text
                fresh.app.state.runtime.evaluation.cache.wait_idle(10.0)  # its change poll
                deadline = time.monotonic() + 10
                while (answer := abc(client, "get_experiments", sdk, body)).json()[
                    "ret_code"
                ] == 105 and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            fresh.stop()
        assert answer.json()["ret_code"] == 100

    def test_deleted_project__101(self, org: ApiClient) -> None:
        sdk = keyed_project(org)
        assert org.delete(org.org(f"/projects/{sdk.project_id}")).status_code == 204
        settle(org.server)
        answer = abc(org, "get_experiments", sdk, {"project_id": sdk.project_id, "unit_id": "u"})
        assert (answer.status_code, answer.json()["ret_code"]) == (200, 101)

    def test_server_error__104_without_details(
        self, org: ApiClient, basic: f.Json, key: SdkKey, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(abc_routes, "assign_experiments", broken)
        answer = abc(org, "get_experiments", key, {"project_id": basic["project"]["id"],
                                                   "unit_id": "u1"})  # fmt: skip
        assert answer.status_code == 200
        assert answer.json() == {"ret_code": 104, "msg": "Server error."}


class TestSharedMiddleware:
    def test_request_id_timing_and_route_metrics(
        self, org: ApiClient, basic: f.Json, key: SdkKey
    ) -> None:
        body = {"project_id": basic["project"]["id"], "unit_id": "u1"}
        headers = {**signed(key), "X-Request-ID": "abc-test-1"}
        r = org.post("/abc/get_experiments", json=body, headers=headers)
        assert r.headers["x-request-id"] == "abc-test-1"
        assert float(r.headers["x-process-time-ms"]) >= 0
        assert r.headers["x-content-type-options"] == "nosniff"
        metrics = org.get("/metrics").text
        assert 'route="/abc/get_experiments",status="200"' in metrics
