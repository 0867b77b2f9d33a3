"""SDK keys: the ABC signature, bearer use on OFREP and /api/sdk, evaluation routes only."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from avsb.server.models import ApiToken
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    SdkKey,
    abc,
    bearer,
    create_sdk_key,
    keyed_project,
    runtime,
    signature,
    signed,
)
from tests.support.servers import ApiClient, LiveServer


def _ask(org: ApiClient, key: SdkKey, headers: dict[str, str]) -> int:
    body = {"project_id": key.project_id, "unit_id": "u1"}
    r = org.post("/abc/get_experiments", json=body, headers=headers)
    assert r.status_code == 200
    code: int = r.json()["ret_code"]
    return code


class TestAbcSignature:
    def test_valid__100(self, org: ApiClient, key: SdkKey) -> None:
        assert _ask(org, key, signed(key)) == 100

    def test_md5_of_other_secret__101(self, org: ApiClient, key: SdkKey) -> None:
        headers = signed(key)
        headers["X-Es"] = signature("not-the-secret", key.id, headers["X-Et"])
        assert _ask(org, key, headers) == 101

    def test_uppercase_hex__accepted(self, org: ApiClient, key: SdkKey) -> None:
        headers = signed(key)
        headers["X-Es"] = headers["X-Es"].upper()
        assert _ask(org, key, headers) == 100

    @pytest.mark.parametrize("offset", [-301, 301, -3600])
    def test_et_outside_300s__101(self, org: ApiClient, key: SdkKey, offset: int) -> None:
        assert _ask(org, key, signed(key, int(time.time()) + offset)) == 101

    def test_et_within_window__100(self, org: ApiClient, key: SdkKey) -> None:
        assert _ask(org, key, signed(key, int(time.time()) - 250)) == 100

    @pytest.mark.parametrize("drop", ["X-Ak", "X-Et", "X-Es"])
    def test_header_missing__101(self, org: ApiClient, key: SdkKey, drop: str) -> None:
        headers = signed(key)
        del headers[drop]
        assert _ask(org, key, headers) == 101

    def test_et_not_a_number__101(self, org: ApiClient, key: SdkKey) -> None:
        headers = {"X-Ak": key.id, "X-Et": "soon", "X-Es": signature(key.secret, key.id, "soon")}
        assert _ask(org, key, headers) == 101

    def test_unknown_ak__101(self, org: ApiClient, key: SdkKey) -> None:
        ghost = SdkKey("tok_00000000000000000000000000", key.secret, key.project_id)
        assert _ask(org, key, signed(ghost)) == 101

    def test_key_of_another_project__101(self, org: ApiClient, key: SdkKey) -> None:
        other = keyed_project(org)
        answer = abc(org, "get_experiments", other, {"project_id": key.project_id, "unit_id": "u"})
        assert answer.json()["ret_code"] == 101
        own = abc(org, "get_experiments", other, {"project_id": other.project_id, "unit_id": "u"})
        assert own.json()["ret_code"] == 100

    def test_service_token__cannot_sign(self, org: ApiClient, key: SdkKey) -> None:
        r = org.post(org.org("/tokens"), json={"name": "svc", "scopes": ["projects:read"]})
        service = SdkKey(r.json()["data"]["id"], r.json()["data"]["token"], key.project_id)
        assert _ask(org, key, signed(service)) == 101

    def test_revoked__101_at_once(self, org: ApiClient, basic: f.Json) -> None:
        doomed = create_sdk_key(org, basic["project"]["id"])
        assert _ask(org, doomed, signed(doomed)) == 100
        assert org.post(org.org(f"/tokens/{doomed.id}/revoke")).status_code == 200
        assert _ask(org, doomed, signed(doomed)) == 101

    def test_rotated__old_secret_valid_in_grace_only(self, org: ApiClient, basic: f.Json) -> None:
        rotating = create_sdk_key(org, basic["project"]["id"])
        url = org.org(f"/tokens/{rotating.id}/rotate")
        r = org.post(url, json={"grace_period_seconds": 600})
        renewed = SdkKey(rotating.id, r.json()["data"]["token"], rotating.project_id)
        assert _ask(org, renewed, signed(renewed)) == 100
        assert _ask(org, rotating, signed(rotating)) == 100
        r = org.post(url, json={"grace_period_seconds": 0})
        latest = SdkKey(rotating.id, r.json()["data"]["token"], rotating.project_id)
        assert _ask(org, latest, signed(latest)) == 100
        assert _ask(org, renewed, signed(renewed)) == 101


class TestSecretStorage:
    def test_secret__stored_for_sdk_keys_only(
        self, org: ApiClient, key: SdkKey, live_server: LiveServer
    ) -> None:
        r = org.post(org.org("/tokens"), json={"name": "svc", "scopes": ["projects:read"]})
        service_id = r.json()["data"]["id"]
        with runtime(live_server).db.session(write=False) as session:
            rows = dict(
                session.execute(
                    select(ApiToken.id, ApiToken.sdk_secret).where(
                        ApiToken.id.in_([key.id, service_id])
                    )
                ).all()
            )
        assert rows == {key.id: key.secret, service_id: None}

    def test_secret__never_in_answers(self, org: ApiClient, key: SdkKey) -> None:
        listed = org.get(org.org("/tokens"), params={"kind": "sdk"})
        assert key.secret not in listed.text
        assert key.secret not in org.get(org.org(f"/tokens/{key.id}")).text


class TestBearer:
    @pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
    def test_sdk_key__both_headers(self, org: ApiClient, key: SdkKey, header: str) -> None:
        value = f"Bearer {key.secret}" if header == "Authorization" else key.secret
        headers = {"Authorization": "", header: value}  # the org client's own token stays out
        r = org.get("/api/sdk/config", headers=headers)
        assert r.status_code == 200, r.text
        flags = org.post("/ofrep/v1/evaluate/flags", headers=headers,
                         json={"context": {"targetingKey": "u1"}})  # fmt: skip
        assert flags.status_code == 200, flags.text

    def test_no_token__401(self, org: ApiClient) -> None:
        r = org.get("/api/sdk/config", headers={"Authorization": ""})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["x-error-code"] == "unauthorized"
        ofrep = org.post("/ofrep/v1/evaluate/flags/x", headers={"Authorization": "Bearer nope"},
                         json={"context": {"targetingKey": "u1"}})  # fmt: skip
        assert ofrep.status_code == 401
        assert ofrep.json()["errorDetails"]

    def test_service_token__403_on_evaluation_routes(self, org: ApiClient) -> None:
        r = org.get("/api/sdk/config")  # the org client holds a `*` service token
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "sdk_key_required"

    def test_sdk_key__403_on_management_routes(self, org: ApiClient, key: SdkKey) -> None:
        r = org.get(org.org("/projects"), headers=bearer(key))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "sdk_key_not_allowed"
