"""Failed-authentication throttling counts failures per client address and refuses only them:
valid tokens (management, OFREP bearer, ABC signature) from a throttled address still work.
The client address behind a trusted proxy comes from X-Forwarded-For (AVSB_TRUSTED_PROXIES);
from anyone else the header is ignored."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from avsb.server.config import Settings
from tests.integration.evaluation_api.support import abc, bearer, keyed_project
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

LIMIT = 3
BAD = {"Authorization": "Bearer avsb_svc_not-a-real-token"}


def _same_minute() -> None:
    """The failure window is the calendar minute: start well inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


@pytest.fixture(scope="module")
def direct(servers: ServerFactory) -> LiveServer:
    """A server reached directly (no trusted proxy), failure limit 3 a minute."""
    return servers.start(auth_failures_per_minute=LIMIT)


@pytest.fixture(scope="module")
def proxied(servers: ServerFactory) -> LiveServer:
    """A server behind a trusted proxy on loopback, failure limit 3 a minute."""
    return servers.start(
        auth_failures_per_minute=LIMIT, trusted_proxies="127.0.0.0/8, ::1, 10.0.0.0/8"
    )


@pytest.fixture
def org(direct: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(direct) as client:
        yield client


def _fail(server: LiveServer, times: int, **headers: str) -> list[int]:
    with server.client() as c:
        return [c.get("/api/me", headers={**BAD, **headers}).status_code for _ in range(times)]


def _audit_ip(api: ApiClient, headers: httpx.Headers | dict[str, str]) -> Any:
    """The client address the audit event of a change made with ``headers`` records."""
    body = {"name": "p", "key": "p" + secrets.token_hex(4)}
    created = api.post(api.org("/projects"), json=body, headers=headers)
    assert created.status_code == 201, created.text
    project_id = created.json()["data"]["id"]
    events = api.get(api.org("/audit"), params={"resource_id": project_id}).json()["data"]
    assert [e["action"] for e in events] == ["project.created"]
    return events[0]["ip"]


class TestThrottleFailuresOnly:
    def test_throttled_address__failures_429__valid_tokens_admitted(
        self, direct: LiveServer, org: ApiClient
    ) -> None:
        sdk = keyed_project(org)
        _same_minute()
        assert _fail(direct, LIMIT + 2) == [401] * LIMIT + [429, 429]
        with direct.client() as anon:
            refused = anon.get("/api/me", headers=BAD)
            missing = anon.get("/api/me")
            # The valid callers behind the same address: every kind of credential.
            me = org.get("/api/me")
            ofrep = anon.post("/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "u1"}},
                               headers=bearer(sdk))  # fmt: skip
            signed = abc(anon, "get_experiments", sdk, {"project_id": sdk.project_id,
                                                        "unit_id": "u1"})  # fmt: skip
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"]["code"] == "rate_limited"
        assert missing.status_code == 429
        assert me.status_code == 200, me.text
        assert ofrep.status_code == 200, ofrep.text
        assert signed.status_code == 200, signed.text
        assert signed.json()["ret_code"] == 100, signed.text

    def test_x_forwarded_for_ignored_without_trusted_proxies(
        self, direct: LiveServer, org: ApiClient
    ) -> None:
        _same_minute()
        codes = [_fail(direct, 1, **{"X-Forwarded-For": f"203.0.113.{i}"})[0] for i in range(5)]
        assert codes[-1] == 429  # one client (the peer), however the header varies
        assert _audit_ip(org, {"X-Forwarded-For": "198.51.100.7"}) == "127.0.0.1"


class TestTrustedProxies:
    def test_clients_behind_proxy_throttled_apart(self, proxied: LiveServer) -> None:
        _same_minute()
        noisy = {"X-Forwarded-For": "203.0.113.5"}
        assert _fail(proxied, LIMIT + 1, **noisy) == [401] * LIMIT + [429]
        # Another client behind the same proxy is not affected.
        assert _fail(proxied, 1, **{"X-Forwarded-For": "203.0.113.6"}) == [401]
        # A chain through two trusted proxies ends at the same client.
        assert _fail(proxied, 1, **{"X-Forwarded-For": "203.0.113.5, 10.1.2.3"}) == [429]

    @pytest.mark.parametrize(
        ("forwarded", "client"),
        [
            (["198.51.100.7"], "198.51.100.7"),
            (["198.51.100.9, 10.0.0.2"], "198.51.100.9"),  # skip the trusted hop
            (["6.6.6.6, 198.51.100.8"], "198.51.100.8"),  # spoofed left part ignored
            (["6.6.6.6", "198.51.100.10:4711"], "198.51.100.10"),  # two headers, a port
            (["2001:db8::5"], "2001:db8::5"),
            (["not-an-address"], "127.0.0.1"),  # malformed: the proxy itself
            ([], "127.0.0.1"),
        ],
    )
    def test_audit_records_client_address(
        self, proxied: LiveServer, forwarded: list[str], client: str
    ) -> None:
        headers = httpx.Headers([("X-Forwarded-For", value) for value in forwarded])
        with new_org_client(proxied) as api:
            assert _audit_ip(api, headers) == client


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.local", "10.0.0.1,,nope"])
def test_bad_trusted_proxies__refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies=value)
