"""A service token's own rate limit (``rate_limit_per_minute``, ``rate_limit_burst``): validated
on create and patch, shown in reads, and applied by both limiters (this process's buckets and
the database-shared leases) on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

DEFAULT_BURST = 5


@pytest.fixture(scope="module", params=["memory", "database"])
def limited(request: pytest.FixtureRequest, servers: ServerFactory) -> LiveServer:
    """Default limit: bursts of 5 and one request a minute (no whole token refills during a
    test), buckets in this process or in the database."""
    return servers.start(
        rate_limit_per_minute=1.0, rate_limit_burst=DEFAULT_BURST, rate_limit_storage=request.param
    )


@pytest.fixture
def admin(live_server: LiveServer) -> Iterator[ApiClient]:
    """A ``*`` token of a new organisation on the relaxed server (to mint and edit tokens)."""
    with new_org_client(live_server) as client:
        yield client


def _mint(api: ApiClient, **limits: Any) -> dict[str, Any]:
    body = {"name": "limited", "scopes": ["projects:read"], **limits}
    created = api.post(api.org("/tokens"), json=body)
    assert created.status_code == 201, created.text
    data: dict[str, Any] = created.json()["data"]
    return data


def _admitted(server: LiveServer, token: str, tries: int) -> list[int]:
    with server.client(token) as client:
        return [client.get("/api/me").status_code for _ in range(tries)]


def test_own_limits__lower_refused_at_own_burst_higher_beyond_default(
    limited: LiveServer,
) -> None:
    with new_org_client(limited) as api:
        low = _mint(api, rate_limit_per_minute=1, rate_limit_burst=2)
        default = _mint(api)
        high = _mint(api, rate_limit_per_minute=7, rate_limit_burst=9)

        assert _admitted(limited, low["token"], 4) == [200, 200, 429, 429]
        # The other token of the organisation is untouched by the first one's limit.
        assert _admitted(limited, default["token"], 7) == [200] * DEFAULT_BURST + [429, 429]
        assert _admitted(limited, high["token"], 11) == [200] * 9 + [429, 429]

        with limited.client(high["token"]) as client:
            refused = client.get("/api/me")
        assert refused.status_code == 429
        assert refused.headers["X-RateLimit-Limit"] == "7"
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1


def test_patch_limits__applied_at_once_and_null_restores_default(limited: LiveServer) -> None:
    with new_org_client(limited) as api:
        token = _mint(api)
        patched = api.patch(api.org(f"/tokens/{token['id']}"), json={"rate_limit_burst": 1})
        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["rate_limit_burst"] == 1
        assert patched.json()["data"]["rate_limit_per_minute"] is None
        assert _admitted(limited, token["token"], 2) == [200, 429]

        reset = api.patch(
            api.org(f"/tokens/{token['id']}"),
            json={"rate_limit_burst": None, "rate_limit_per_minute": 30},
        )
        assert reset.status_code == 200, reset.text
        assert reset.json()["data"]["rate_limit_burst"] is None
        with limited.client(token["token"]) as client:
            # The spent bucket is not refilled by the edit; it refills at the new rate (one
            # request per 2 s instead of the default one a minute).
            assert client.get("/api/me").headers["X-RateLimit-Limit"] == "30"
            time.sleep(2.2)
            again = client.get("/api/me")
        assert again.status_code == 200, again.text
        assert again.headers["X-RateLimit-Limit"] == "30"


def test_limits_shown_in_reads_and_audited(admin: ApiClient) -> None:
    token = _mint(admin, rate_limit_per_minute=600, rate_limit_burst=50)
    assert (token["rate_limit_per_minute"], token["rate_limit_burst"]) == (600, 50)
    read = admin.get(admin.org(f"/tokens/{token['id']}")).json()["data"]
    assert (read["rate_limit_per_minute"], read["rate_limit_burst"]) == (600, 50)
    listed = {t["id"]: t for t in admin.get(admin.org("/tokens")).json()["data"]}
    assert listed[token["id"]]["rate_limit_burst"] == 50
    plain = _mint(admin)
    assert (plain["rate_limit_per_minute"], plain["rate_limit_burst"]) == (None, None)

    admin.patch(admin.org(f"/tokens/{token['id']}"), json={"rate_limit_burst": 60})
    events = admin.get(
        admin.org("/audit"), params={"action": "token.updated", "resource_id": token["id"]}
    ).json()["data"]
    assert events[0]["diff"]["rate_limit_burst"] == {"from": 50, "to": 60}


@pytest.mark.parametrize(
    "limits",
    [
        {"rate_limit_per_minute": 0},
        {"rate_limit_burst": -1},
        {"rate_limit_burst": 1.5},
        {"rate_limit_per_minute": "100"},
        {"rate_limit_per_minute": True},
        {"rate_limit_burst": 10**9},
    ],
)
def test_bad_limits__422_naming_the_field(admin: ApiClient, limits: dict[str, Any]) -> None:
    (field,) = limits
    body = {"name": "x", "scopes": ["projects:read"], **limits}
    created = admin.post(admin.org("/tokens"), json=body)
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "validation_error"
    assert field in str(created.json()["error"]["details"])

    token = _mint(admin)
    patched = admin.patch(admin.org(f"/tokens/{token['id']}"), json=limits)
    assert patched.status_code == 422, patched.text
    assert field in str(patched.json()["error"]["details"])


def test_sdk_keys_take_no_own_limit(admin: ApiClient) -> None:
    project = admin.post(admin.org("/projects"), json={"name": "p", "key": "p1"})
    assert project.status_code == 201, project.text
    body = {"name": "web", "kind": "sdk", "project_id": project.json()["data"]["id"]}
    refused = admin.post(admin.org("/tokens"), json={**body, "rate_limit_burst": 5})
    assert refused.status_code == 422, refused.text
    assert "rate_limit_burst" in str(refused.json()["error"]["details"])
    key = admin.post(admin.org("/tokens"), json=body)
    assert key.status_code == 201, key.text
    patched = admin.patch(
        admin.org(f"/tokens/{key.json()['data']['id']}"), json={"rate_limit_per_minute": 5}
    )
    assert patched.status_code == 422, patched.text
