"""Tokens, scopes, tenancy, rate limits and failed-auth throttling."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from avsb.server.auth.secrets import hash_token
from avsb.server.db import Database
from avsb.server.models import ApiToken
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client


def _token(api: ApiClient, **body: object) -> dict[str, object]:
    r = api.post(api.org("/tokens"), json={"name": "t", "scopes": ["projects:read"], **body})
    assert r.status_code == 201, r.text
    data: dict[str, object] = r.json()["data"]
    return data


def _as(api: ApiClient, token: object) -> httpx.Client:
    return httpx.Client(base_url=api.server.url, headers={"Authorization": f"Bearer {token}"})


class TestAuthentication:
    def test_missing_token__401(self, live_server: LiveServer) -> None:
        with live_server.client() as c:
            r = c.get(f"/api/orgs/{live_server.default_org}/projects")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"

    def test_invalid_token__401(self, live_server: LiveServer) -> None:
        with live_server.client("avsb_svc_nope") as c:
            assert c.get("/api/me").status_code == 401

    def test_x_api_key_header__accepted(self, api: ApiClient) -> None:
        with httpx.Client(base_url=api.server.url, headers={"X-API-Key": api.token}) as c:
            assert c.get("/api/me").json()["data"]["org_id"] == api.org_id

    def test_me__kind_org_scopes(self, api: ApiClient) -> None:
        token = _token(api, scopes=["projects:write", "audit:read"])
        with _as(api, token["token"]) as c:
            me = c.get("/api/me").json()["data"]
        assert me["kind"] == "service"
        assert me["org_id"] == api.org_id
        assert me["scopes"] == ["audit:read", "projects:write"]


class TestScopes:
    def test_missing_scope__403_scope_missing(self, api: ApiClient) -> None:
        token = _token(api, scopes=["projects:read"])
        with _as(api, token["token"]) as c:
            r = c.post(api.org("/projects"), json={"key": "k", "name": "n"})
        assert r.status_code == 403
        error = r.json()["error"]
        assert error["code"] == "scope_missing"
        assert error["details"] == {"missingScope": "projects:write"}

    def test_write_implies_read(self, api: ApiClient) -> None:
        token = _token(api, scopes=["projects:write"])
        with _as(api, token["token"]) as c:
            assert c.get(api.org("/projects")).status_code == 200

    def test_unknown_scope__422(self, api: ApiClient) -> None:
        r = api.post(api.org("/tokens"), json={"name": "t", "scopes": ["rockets:launch"]})
        assert r.status_code == 422

    def test_cannot_grant_more_than_held__403(self, api: ApiClient) -> None:
        limited = _token(api, scopes=["tokens:write"])
        with _as(api, limited["token"]) as c:
            r = c.post(api.org("/tokens"), json={"name": "x", "scopes": ["projects:write"]})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "scope_escalation"

    def test_admin_only_route__403_for_service_token(self, api: ApiClient) -> None:
        r = api.post("/api/orgs", json={"name": "nope"})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "admin_required"


class TestTenancy:
    def test_other_org_ids__404(self, api: ApiClient, live_server: LiveServer) -> None:
        pid = api.post(api.org("/projects"), json={"key": "k", "name": "n"}).json()["data"]["id"]
        with new_org_client(live_server) as other:
            assert other.get(api.org("/projects")).status_code == 404
            assert other.get(other.org(f"/projects/{pid}")).status_code == 404
            assert other.patch(other.org(f"/projects/{pid}"), json={"name": "x"}).status_code == 404
            assert other.get(other.org("/projects")).json()["data"] == []

    def test_org_list__only_own(self, api: ApiClient) -> None:
        orgs = api.get("/api/orgs").json()["data"]
        assert [o["id"] for o in orgs] == [api.org_id]

    def test_sdk_key__refused_on_management_routes(self, api: ApiClient) -> None:
        pid = api.post(api.org("/projects"), json={"key": "k", "name": "n"}).json()["data"]["id"]
        sdk = api.post(api.org("/tokens"), json={"name": "web", "kind": "sdk", "project_id": pid})
        assert sdk.status_code == 201
        assert sdk.json()["data"]["token"].startswith("avsb_sdk_")
        with _as(api, sdk.json()["data"]["token"]) as c:
            r = c.get(api.org("/projects"))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "sdk_key_not_allowed"


class TestTokenLifecycle:
    def test_secret_shown_once_and_only_hash_stored(
        self, api: ApiClient, database: Database
    ) -> None:
        created = _token(api)
        secret = str(created["token"])
        assert secret.startswith("avsb_svc_")
        got = api.get(api.org(f"/tokens/{created['id']}")).json()["data"]
        assert "token" not in got
        assert got["token_prefix"].endswith("…")
        assert secret not in api.get(api.org("/tokens")).text
        with database.session(write=False) as s:
            row = s.scalar(select(ApiToken).where(ApiToken.id == created["id"]))
            assert row is not None
            assert row.token_hash == hash_token(secret)
            assert secret not in repr(row.__dict__)

    def test_patch_list_delete(self, api: ApiClient) -> None:
        created = _token(api)
        r = api.patch(api.org(f"/tokens/{created['id']}"), json={"description": "renamed"})
        assert r.json()["data"]["description"] == "renamed"
        assert created["id"] in [t["id"] for t in api.get(api.org("/tokens")).json()["data"]]
        assert api.delete(api.org(f"/tokens/{created['id']}")).status_code == 204
        assert api.get(api.org(f"/tokens/{created['id']}")).status_code == 404
        with _as(api, created["token"]) as c:
            assert c.get("/api/me").status_code == 401

    def test_revoke__rejected_at_once(self, api: ApiClient) -> None:
        created = _token(api)
        with _as(api, created["token"]) as c:
            assert c.get("/api/me").status_code == 200
            r = api.post(api.org(f"/tokens/{created['id']}/revoke"))
            assert r.json()["data"]["status"] == "revoked"
            assert c.get("/api/me").status_code == 401

    def test_rotate_with_grace__old_works_until_grace_ends(self, api: ApiClient) -> None:
        created = _token(api)
        r = api.post(api.org(f"/tokens/{created['id']}/rotate"), json={"grace_period_seconds": 5})
        rotated = time.monotonic()  # the grace began before this moment
        new_secret = r.json()["data"]["token"]
        assert new_secret != created["token"]
        with _as(api, created["token"]) as old, _as(api, new_secret) as new:
            assert old.get("/api/me").status_code == 200
            assert new.get("/api/me").status_code == 200
            time.sleep(max(0.0, rotated + 5.5 - time.monotonic()))
            assert old.get("/api/me").status_code == 401
            assert new.get("/api/me").status_code == 200

    def test_rotate_without_grace__old_rejected(self, api: ApiClient) -> None:
        created = _token(api)
        api.post(api.org(f"/tokens/{created['id']}/rotate"))
        with _as(api, created["token"]) as old:
            assert old.get("/api/me").status_code == 401

    def test_expired_token__401(self, api: ApiClient) -> None:
        expires = datetime.now(UTC) + timedelta(seconds=4)  # room for a slow machine
        created = _token(api, expires_at=expires.isoformat())
        with _as(api, created["token"]) as c:
            assert c.get("/api/me").status_code == 200
            time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds() + 0.3))
            assert c.get("/api/me").status_code == 401
        assert api.get(api.org(f"/tokens/{created['id']}")).json()["data"]["status"] == "expired"

    def test_expiry_in_past__422(self, api: ApiClient) -> None:
        r = api.post(
            api.org("/tokens"),
            json={"name": "t", "scopes": ["projects:read"], "expires_at": "2001-01-01T00:00:00Z"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"]["fields"][0]["path"] == "expires_at"

    def test_last_used__batched_not_per_request(
        self, servers: ServerFactory, database: Database
    ) -> None:
        live = servers.start()
        with new_org_client(live) as api:
            created = _token(api)
            with _as(api, created["token"]) as c:
                for _ in range(5):
                    assert c.get("/api/me").status_code == 200

            def last_used() -> datetime | None:
                with database.session(write=False) as s:
                    row = s.get(ApiToken, created["id"])
                    assert row is not None
                    return row.last_used_at

            assert last_used() is None  # nothing written on the request path
            assert live.app.state.runtime.authenticator.flush_last_used() >= 1
            assert last_used() is not None


class TestRateLimits:
    def test_headers_then_429_with_retry_after(self, servers: ServerFactory) -> None:
        limited = servers.start(rate_limit_per_minute=60.0, rate_limit_burst=5)
        with new_org_client(limited) as api:
            statuses = []
            for _ in range(7):
                r = api.get(api.org("/projects"))
                statuses.append(r.status_code)
                assert r.headers["X-RateLimit-Limit"] == "60"
                assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time())
            assert statuses[:5] == [200] * 5
            assert statuses[-1] == 429
            assert r.json()["error"]["code"] == "rate_limited"
            assert int(r.headers["Retry-After"]) >= 1
            assert r.headers["X-RateLimit-Remaining"] == "0"
            # Another scope family has its own bucket.
            assert api.get(api.org("/audit")).status_code == 200

    def test_failed_auth_throttled_per_ip(self, servers: ServerFactory) -> None:
        live = servers.start(auth_failures_per_minute=3)
        with live.client("avsb_svc_wrong") as bad:
            codes = [bad.get("/api/me").status_code for _ in range(5)]
        assert codes[:3] == [401, 401, 401]
        assert codes[3:] == [429, 429]
