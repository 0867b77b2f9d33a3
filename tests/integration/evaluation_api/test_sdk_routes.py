"""`GET /api/sdk/config`, `POST /api/sdk/evaluate`, and the config rebuild after writes."""

from __future__ import annotations

from typing import Any

import pytest

from avsb_sdk.evaluation import config_from_dict
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    SdkKey,
    bearer,
    create_sdk_key,
    keyed_project,
    settle,
)
from tests.support.servers import ApiClient, LiveServer


class TestConfig:
    def test_config__core_json_with_etag(self, org: ApiClient, basic: f.Json, key: SdkKey) -> None:
        r = org.get("/api/sdk/config", headers=bearer(key))
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers["etag"].startswith('W/"')
        config = config_from_dict(r.json()["data"])
        assert config.project_id == basic["project"]["id"]
        assert config.project_key == basic["project"]["key"]
        assert config.revision > 0
        assert {e.key for e in config.experiments} == {basic["button"]["key"],
                                                       basic["targeted"]["key"]}  # fmt: skip
        layer = next(x for x in config.layers if x.key == basic["layer"]["key"])
        assert layer.allocations == {basic["button"]["id"]: ((0, 10000),)}

    def test_if_none_match__304_until_a_write(
        self, org: ApiClient, live_server: LiveServer
    ) -> None:
        key = keyed_project(org)
        first = org.get("/api/sdk/config", headers=bearer(key))
        etag, revision = first.headers["etag"], first.json()["data"]["revision"]
        again = org.get("/api/sdk/config", headers={**bearer(key), "If-None-Match": etag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
        f.create_flag(org, key.project_id)
        settle(live_server)
        changed = org.get("/api/sdk/config", headers={**bearer(key), "If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert changed.json()["data"]["revision"] > revision
        assert len(changed.json()["data"]["flags"]) == 1

    def test_etag__same_content_same_tag_in_any_process(self, org: ApiClient, key: SdkKey) -> None:
        one = org.get("/api/sdk/config", headers=bearer(key))
        two = org.get("/api/sdk/config", headers=bearer(key))
        assert one.content == two.content
        assert one.headers["etag"] == two.headers["etag"]


class TestEvaluate:
    def test_every_layer_and_flag__typed(self, org: ApiClient, basic: f.Json, key: SdkKey) -> None:
        body = {"unit_id": "user_id_1", "attributes": {"country": "US", "age": 30}}
        r = org.post("/api/sdk/evaluate", json=body, headers=bearer(key))
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert set(data) == {"unit_id", "revision", "held_out", "experiments", "flags"}
        assert (data["unit_id"], data["held_out"]) == ("user_id_1", False)
        button = data["experiments"][basic["layer"]["key"]]
        assert button["assigned"] is True
        assert button["reason"] == "assigned"
        assert button["experiment_key"] == basic["button"]["key"]
        assert data["experiments"][basic["empty"]["key"]]["reason"] == "not_in_traffic"
        flags = basic["flags"]
        assert data["flags"][flags["plain"]["key"]] == {
            "value": True, "reason": "STATIC", "variant": "default", "error_code": None,
            "experiment_key": None, "group_id": None,
        }  # fmt: skip
        assert data["flags"][flags["numeric"]["key"]]["value"] == 20
        assert data["flags"][flags["blob"]["key"]]["value"] == {"a": [1, 2]}
        bound = data["flags"][flags["bound"]["key"]]
        assert (bound["reason"], bound["variant"]) == ("SPLIT", button["variant"])
        assert bound["value"] == button["params"]["color"]
        assert bound["group_id"] == button["group_id"]

    @pytest.mark.parametrize(
        ("body", "path", "kind"),
        [
            (b"{", "body", "json_invalid"),
            (b"[]", "body", "dict_type"),
            ({"attributes": {}}, "unit_id", "string_type"),
            ({"unit_id": ""}, "unit_id", "string_type"),
            ({"unit_id": "u", "attributes": [1]}, "attributes", "dict_type"),
            ({"unit_id": "u", "extra": 1}, "extra", "extra_forbidden"),
        ],
    )
    def test_invalid_body__422_envelope(
        self, org: ApiClient, key: SdkKey, body: Any, path: str, kind: str
    ) -> None:
        content = body if isinstance(body, bytes) else None
        payload = None if isinstance(body, bytes) else body
        r = org.post("/api/sdk/evaluate", content=content, json=payload, headers=bearer(key))
        assert r.status_code == 422
        assert r.headers["x-error-code"] == "validation_error"
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        assert error["request_id"] == r.headers["x-request-id"]
        assert [(x["path"], x["type"]) for x in error["details"]["fields"]] == [(path, kind)]

    def test_wrong_method__405_envelope(self, org: ApiClient, key: SdkKey) -> None:
        r = org.get("/api/sdk/evaluate", headers=bearer(key))
        assert r.status_code == 405
        assert r.json()["error"]["code"] == "method_not_allowed"


class TestRebuild:
    def test_lifecycle__pause_and_stop_reach_answers(
        self, org: ApiClient, live_server: LiveServer
    ) -> None:
        pid = f.create_project(org)["id"]
        experiment = f.create_experiment(org, pid, traffic_percent=100)
        flag = f.create_flag(org, pid, experiment_id=experiment["id"], experiment_param="color",
                             default_value="grey")  # fmt: skip
        key = create_sdk_key(org, pid)

        def colour() -> tuple[str, str]:
            settle(live_server)
            r = org.post("/api/sdk/evaluate", json={"unit_id": "u1"}, headers=bearer(key))
            got = r.json()["data"]["flags"][flag["key"]]
            return got["value"], got["reason"]

        # Only a running experiment chooses: otherwise the default, static while it lasts.
        assert colour() == ("grey", "STATIC")  # a draft
        f.act(org, experiment["id"], "start")
        assert colour()[1] == "SPLIT"
        f.act(org, experiment["id"], "pause")
        assert colour() == ("grey", "STATIC")
        f.act(org, experiment["id"], "start")
        f.act(org, experiment["id"], "stop", {"winner": None, "reason": "done"})
        assert colour() == ("grey", "STATIC")

    def test_segment_members__change_reaches_answers(
        self, org: ApiClient, live_server: LiveServer
    ) -> None:
        pid = f.create_project(org)["id"]
        segment = f.create_segment(org, pid, unit_ids=["a"])
        audience = f.create_audience(org, pid, conditions={"segment": segment["id"]})
        flag = f.create_flag(org, pid, type="boolean", default_value=False,
                             rules=[{"audience_id": audience["id"], "value": True}])  # fmt: skip
        key = create_sdk_key(org, pid)

        def value(unit: str) -> Any:
            settle(live_server)
            r = org.post("/api/sdk/evaluate", json={"unit_id": unit}, headers=bearer(key))
            return r.json()["data"]["flags"][flag["key"]]["value"]

        assert (value("a"), value("b")) == (True, False)
        url = org.org(f"/segments/{segment['id']}/members")
        assert org.post(url, json={"unit_ids": ["b"]}).status_code in {200, 201}
        assert value("b") is True

    def test_deleted_project__no_longer_served(
        self, org: ApiClient, live_server: LiveServer
    ) -> None:
        key = keyed_project(org)
        assert org.get("/api/sdk/config", headers=bearer(key)).status_code == 200
        assert org.delete(org.org(f"/projects/{key.project_id}")).status_code == 204
        settle(live_server)
        r = org.get("/api/sdk/config", headers=bearer(key))
        # Deleting the project revoked its SDK keys (docs/security.md): the key is refused.
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
