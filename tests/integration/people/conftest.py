"""People fixtures: a server with cheap password hashing, organisations and their members
(made through the real invitation flow), each with a signed-in session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.servers import LiveServer, ServerFactory

# Cheap argon2 for the fixtures (bench/bench_auth.py measures the real defaults).
FAST_HASH: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 8192}


@dataclass
class Person:
    """A member signed in through a session (cookie jar + CSRF header)."""

    user_id: str
    email: str
    password: str
    role: str
    client: httpx.Client  # the browser: session cookie and X-CSRF-Token

    @property
    def session_cookie(self) -> str:
        return self.client.cookies["avsb_session"]


@pytest.fixture(scope="session")
def people_server(servers: ServerFactory) -> LiveServer:
    """Shared by many tests from one address: sign-in throttles out of the way (their own
    tests start servers with low limits)."""
    relaxed = {"login_failures_per_minute": 1_000_000}
    return servers.start_shared(
        **FAST_HASH, **relaxed, login_failures_per_account_per_minute=1_000_000
    )


def browser(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30.0, follow_redirects=False)


def use_csrf(client: httpx.Client, response: httpx.Response) -> None:
    """Echo the session's CSRF token (from the sign-in answer) on later requests."""
    client.headers["X-CSRF-Token"] = response.json()["data"]["csrf_token"]


def new_org(server: LiveServer) -> str:
    with server.admin() as admin:
        r = admin.post("/api/orgs", json={"name": f"people-{secrets.token_hex(3)}"})
        assert r.status_code == 201, r.text
        org_id: str = r.json()["data"]["id"]
    return org_id


def invite(server: LiveServer, org_id: str, email: str, role: str) -> str:
    """An invitation made with the admin token; its secret token."""
    with server.admin() as admin:
        r = admin.post(f"/api/orgs/{org_id}/invitations", json={"email": email, "role": role})
        assert r.status_code == 201, r.text
    url: str = r.json()["data"]["url"]
    return url.rsplit("/", 1)[-1]


def join(server: LiveServer, org_id: str, role: str, email: str | None = None) -> Person:
    """A new member with ``role`` (invited, accepted: signed in)."""
    email = email or f"{role}-{secrets.token_hex(4)}@example.test"
    password = "pw-" + secrets.token_urlsafe(12)
    token = invite(server, org_id, email, role)
    client = browser(server)
    r = client.post(
        f"/auth/invitations/{token}/accept", json={"name": role.title(), "password": password}
    )
    assert r.status_code == 200, r.text
    use_csrf(client, r)
    return Person(r.json()["data"]["user"]["id"], email, password, role, client)


@dataclass
class Team:
    org_id: str
    members: dict[str, Person]


@pytest.fixture
def team(people_server: LiveServer) -> Iterator[Team]:
    """A fresh organisation with one signed-in member of each role."""
    org_id = new_org(people_server)
    members = {r: join(people_server, org_id, r) for r in ("viewer", "editor", "admin", "owner")}
    yield Team(org_id, members)
    for person in members.values():
        person.client.close()


def make_pat(person: Person, scopes: list[str], org_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "pat", "scopes": scopes}
    if org_id is not None:
        body["org_id"] = org_id
    r = person.client.post("/api/me/tokens", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def bearer(server: LiveServer, token: str) -> httpx.Client:
    return server.client(token)
