"""OFREP as the official OpenAPI document reads it: every flag type and every error path
validated against the pinned document; number typing; anonymous contexts; change precision
(a flag's `metadata.revision` and the bulk ETag move only with what the flag depends on)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.design import factories as f
from tests.integration.evaluation_api.ofrep_spec import (
    BULK_PATH,
    DOCUMENT,
    FLAG_PATH,
    official,
    problems,
)
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, settle
from tests.support.servers import ApiClient, LiveServer

Json = dict[str, Any]
BULK = "/ofrep/v1/evaluate/flags"


@pytest.fixture(scope="module")
def spec_flags(org: ApiClient, live_server: LiveServer) -> Json:
    """A project with a flag of every type and reason, and its SDK key."""
    pid = f.create_project(org)["id"]
    us = f.create_audience(org, pid)
    prices = f.variants({"price": "7", "bad": "7"}, {"price": "12.5", "bad": "seven"})
    experiment = f.create_experiment(org, pid, traffic_percent=100, variants=prices)
    f.act(org, experiment["id"], "start")
    country = {"all": [{"attribute": "country", "operator": "in", "values": ["DE"]}]}
    specs: dict[str, Json] = {
        "boolean": {"type": "boolean", "default_value": False,
                    "rules": [{"audience_id": us["id"], "value": True}]},
        "string": {"type": "string", "default_value": "hello"},
        "integer": {"type": "number", "default_value": 20,
                    "rules": [{"conditions": country, "value": 30}]},
        "float": {"type": "number", "default_value": 9.99,
                  "experiment_id": experiment["id"], "experiment_param": "price"},
        "float_by_rule": {"type": "number", "default_value": 2,
                          "rules": [{"conditions": country, "value": 2.5}]},
        "object": {"type": "json", "default_value": {"primary": "#123456", "n": [1, 2]}},
        "null": {"type": "json", "default_value": None},
        "array": {"type": "json", "default_value": [1, 2]},
        "disabled": {"type": "string", "default_value": "off", "enabled": False,
                     "rules": [{"value": "on"}]},
        "rollout": {"type": "boolean", "default_value": False,
                    "rules": [{"rollout_percent": 50, "value": True}]},
        "mismatch": {"type": "number", "default_value": 1,
                     "experiment_id": experiment["id"], "experiment_param": "bad"},
    }  # fmt: skip
    out: Json = {}
    for name, body in specs.items():
        r = org.post(org.org("/flags"), json={"project_id": pid, "key": f.unique(name), **body})
        out[name] = r.json()["data"]["key"] if r.status_code == 201 else r
    out["key"] = create_sdk_key(org, pid)
    out["us"] = us
    out["project_id"] = pid
    settle(live_server)
    return out


def _post(client: httpx.Client, key: SdkKey, path: str, body: Any, **headers: str) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {**bearer(key), "Content-Type": "application/json", **headers}
    return client.post(path, content=content, headers=sent)


def _checked(path: str, response: httpx.Response) -> Json:
    body = response.json() if response.content else {}
    assert problems(path, response.status_code, body) == [], (response.status_code, body)
    return body


def _unit_with(client: httpx.Client, key: SdkKey, flag: str, variant: str) -> str:
    for i in range(400):
        r = _post(client, key, f"{BULK}/{flag}", {"context": {"targetingKey": f"u{i}"}})
        if r.json().get("variant") == variant:
            return f"u{i}"
    raise AssertionError(f"no unit in variant {variant}")


class TestOfficialDocument:
    def test_document__pinned_and_official(self) -> None:
        document = official()
        assert document["info"]["title"].startswith("OpenFeature Remote Evaluation Protocol")
        assert set(document["paths"]) == {FLAG_PATH, BULK_PATH}
        header = DOCUMENT.read_text().splitlines()[:3]
        assert "https://github.com/open-feature/protocol" in header[1]
        assert "d1a63a4e84e6297599ce566126e7764c1419f80a" in header[2]

    @pytest.mark.parametrize(
        ("name", "context", "value", "reason", "variant"),
        [
            ("boolean", {"country": "US"}, True, "TARGETING_MATCH", "rule_0"),
            ("boolean", {"country": "FR"}, False, "TARGETING_MATCH", "default"),
            ("string", {}, "hello", "STATIC", "default"),
            ("integer", {"country": "DE"}, 30, "TARGETING_MATCH", "rule_0"),
            ("integer", {}, 20, "TARGETING_MATCH", "default"),
            ("float_by_rule", {"country": "DE"}, 2.5, "TARGETING_MATCH", "rule_0"),
            ("float_by_rule", {}, 2.0, "TARGETING_MATCH", "default"),
            ("object", {}, {"primary": "#123456", "n": [1, 2]}, "STATIC", "default"),
            ("disabled", {}, "off", "DISABLED", "default"),
        ],
    )
    def test_single__every_type__valid_typed_answer(
        self, name: str, context: Json, value: object, reason: str, variant: str,
        spec_flags: Json, org: ApiClient,
    ) -> None:  # fmt: skip
        key: SdkKey = spec_flags["key"]
        body = {"context": {"targetingKey": "user_1", **context}}
        r = _post(org, key, f"{BULK}/{spec_flags[name]}", body)
        answer = _checked(FLAG_PATH, r)
        assert r.status_code == 200
        assert (answer["value"], answer["reason"], answer["variant"]) == (value, reason, variant)
        assert type(answer["value"]) is type(value)  # 2.0 stays a float, 20 an int
        assert isinstance(answer["metadata"]["revision"], str)

    def test_float__experiment_values_always_floats(self, spec_flags: Json, org: ApiClient) -> None:
        key: SdkKey = spec_flags["key"]
        unit = _unit_with(org, key, spec_flags["float"], "control")
        r = _post(org, key, f"{BULK}/{spec_flags['float']}", {"context": {"targetingKey": unit}})
        answer = _checked(FLAG_PATH, r)
        assert (answer["value"], answer["reason"]) == (7.0, "SPLIT")
        assert b'"value":7.0' in r.content
        assert answer["metadata"]["group_id"] > 0

    def test_null_value__code_default_answer(self, spec_flags: Json, org: ApiClient) -> None:
        r = _post(org, spec_flags["key"], f"{BULK}/{spec_flags['null']}",
                  {"context": {"targetingKey": "u"}})  # fmt: skip
        answer = _checked(FLAG_PATH, r)
        assert r.status_code == 200
        assert "value" not in answer
        assert answer["reason"] == "STATIC"

    def test_array_value__general_error(self, spec_flags: Json, org: ApiClient) -> None:
        r = _post(org, spec_flags["key"], f"{BULK}/{spec_flags['array']}",
                  {"context": {"targetingKey": "u"}})  # fmt: skip
        answer = _checked(FLAG_PATH, r)
        assert (r.status_code, answer["errorCode"]) == (400, "GENERAL")
        assert "array" in answer["errorDetails"]

    def test_param_not_a_number__refused_when_bound(self, spec_flags: Json) -> None:
        refused: httpx.Response = spec_flags["mismatch"]  # a param "seven" for a number flag
        assert refused.status_code == 422
        assert f.fields(refused) == ["experiment_param"]

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            (b"{oops", 400, "PARSE_ERROR"),
            (b"[1]", 400, "INVALID_CONTEXT"),
            ({"context": []}, 400, "INVALID_CONTEXT"),
            ({"context": {"targetingKey": 5}}, 400, "INVALID_CONTEXT"),
        ],
    )
    def test_bad_requests__documented_failures(
        self, body: Any, status: int, code: str, spec_flags: Json, org: ApiClient
    ) -> None:
        key: SdkKey = spec_flags["key"]
        single = _post(org, key, f"{BULK}/{spec_flags['string']}", body)
        assert (single.status_code, _checked(FLAG_PATH, single)["errorCode"]) == (status, code)
        bulk = _post(org, key, BULK, body)
        assert (bulk.status_code, _checked(BULK_PATH, bulk)["errorCode"]) == (status, code)

    def test_not_found_and_auth__documented(self, spec_flags: Json, org: ApiClient) -> None:
        key: SdkKey = spec_flags["key"]
        missing = _post(org, key, f"{BULK}/no_such_flag", {"context": {"targetingKey": "u"}})
        assert _checked(FLAG_PATH, missing)["errorCode"] == "FLAG_NOT_FOUND"
        assert missing.status_code == 404
        for path, spec_path in ((f"{BULK}/x", FLAG_PATH), (BULK, BULK_PATH)):
            r = org.post(path, json={"context": {"targetingKey": "u"}},
                         headers={"Authorization": "Bearer avsb_sdk_wrong"})  # fmt: skip
            assert r.status_code == 401
            _checked(spec_path, r)
            service = org.post(path, json={"context": {"targetingKey": "u"}})  # a service token
            assert service.status_code == 403
            _checked(spec_path, service)

    def test_bulk__every_entry_valid(self, spec_flags: Json, org: ApiClient) -> None:
        for context in ({"targetingKey": "user_1", "country": "DE"}, {"country": "US"}, {}):
            r = _post(org, spec_flags["key"], BULK, {"context": context})
            assert r.status_code == 200
            body = _checked(BULK_PATH, r)
            assert len(body["flags"]) == 10
            assert r.headers["etag"]


class TestAnonymous:
    def test_no_targeting_key__values_unless_bucketing_needs_one(
        self, spec_flags: Json, org: ApiClient
    ) -> None:
        for context in ({"country": "US"}, {"targetingKey": "", "country": "US"}):
            r = _post(org, spec_flags["key"], BULK, {"context": context})
            entries = {e["key"]: e for e in _checked(BULK_PATH, r)["flags"]}
            assert r.status_code == 200
            assert entries[spec_flags["boolean"]]["value"] is True  # a rule on an attribute
            assert entries[spec_flags["string"]]["value"] == "hello"
            assert entries[spec_flags["disabled"]]["reason"] == "DISABLED"
            for bucketed in ("rollout", "float"):
                assert entries[spec_flags[bucketed]]["errorCode"] == "TARGETING_KEY_MISSING"

    def test_single__missing_key__400_only_for_bucketed(
        self, spec_flags: Json, org: ApiClient
    ) -> None:
        key: SdkKey = spec_flags["key"]
        static = _post(org, key, f"{BULK}/{spec_flags['string']}", {"context": {}})
        assert (static.status_code, _checked(FLAG_PATH, static)["value"]) == (200, "hello")
        empty_body = _post(org, key, f"{BULK}/{spec_flags['string']}", b"")
        assert empty_body.status_code == 200
        rollout = _post(org, key, f"{BULK}/{spec_flags['rollout']}", {"context": {}})
        answer = _checked(FLAG_PATH, rollout)
        assert (rollout.status_code, answer["errorCode"]) == (400, "TARGETING_KEY_MISSING")


class TestChangePrecision:
    def test_unrelated_audience_edit__304__own_audience_edit__only_that_flag_moves(
        self, org: ApiClient, live_server: LiveServer
    ) -> None:
        pid = f.create_project(org)["id"]
        own = f.create_audience(org, pid)
        unrelated = f.create_audience(org, pid)
        rules = [{"audience_id": own["id"], "value": True}]
        targeted = f.create_flag(org, pid, type="boolean", default_value=False, rules=rules)["key"]
        other = f.create_flag(org, pid, type="string", default_value="x")["key"]
        key = create_sdk_key(org, pid)
        settle(live_server)
        body = {"context": {"targetingKey": "u1", "country": "FR"}}
        first = _post(org, key, BULK, body)
        etag = first.headers["etag"]
        before = {e["key"]: e["metadata"]["revision"] for e in first.json()["flags"]}

        fr = {"all": [{"attribute": "country", "operator": "in", "values": ["FR"]}]}
        r = org.patch(org.org(f"/audiences/{unrelated['id']}"), json={"conditions": fr})
        assert r.status_code == 200, r.text
        settle(live_server)
        assert _post(org, key, BULK, body, **{"If-None-Match": etag}).status_code == 304

        r = org.patch(org.org(f"/audiences/{own['id']}"), json={"conditions": fr})
        assert r.status_code == 200, r.text
        settle(live_server)
        changed = _post(org, key, BULK, body, **{"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        after = {e["key"]: e for e in changed.json()["flags"]}
        assert after[targeted]["value"] is True
        assert after[targeted]["metadata"]["revision"] != before[targeted]
        assert after[other]["metadata"]["revision"] == before[other]

    def test_project_holdout__moves_only_experiment_flags(
        self, org: ApiClient, live_server: LiveServer
    ) -> None:
        project = f.create_project(org)
        pid = project["id"]
        experiment = f.create_experiment(org, pid, traffic_percent=100)
        f.act(org, experiment["id"], "start")
        bound = f.create_flag(org, pid, experiment_id=experiment["id"],
                              experiment_param="color")["key"]  # fmt: skip
        plain = f.create_flag(org, pid, default_value="x")["key"]
        key = create_sdk_key(org, pid)
        settle(live_server)
        body = {"context": {"targetingKey": "u1"}}
        before = {
            e["key"]: e["metadata"]["revision"] for e in _post(org, key, BULK, body).json()["flags"]
        }
        r = org.patch(org.org(f"/projects/{pid}"), json={"holdout_percent": 10})
        assert r.status_code == 200, r.text
        settle(live_server)
        after = {
            e["key"]: e["metadata"]["revision"] for e in _post(org, key, BULK, body).json()["flags"]
        }
        assert after[bound] != before[bound]
        assert after[plain] == before[plain]
