"""Dashboard fixtures: a server with cheap password hashing, and people of each role signed in
through the real flows (invitation accepted over the API, then the sign-in form's POST)."""

from __future__ import annotations

import html as html_lib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.servers import LiveServer, ServerFactory

# Cheap argon2 for the fixtures (bench/bench_auth.py measures the real defaults).
FAST_HASH: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 8192}
XSS = "<script>alert(1)</script>"


@dataclass
class Person:
    """A member with a browser-like client (cookie jar, no redirects followed)."""

    user_id: str
    email: str
    password: str
    role: str
    client: httpx.Client

    @property
    def csrf(self) -> str:
        return self.client.cookies["avsb_csrf"]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post_form(self, path: str, data: dict[str, str], csrf: bool = True) -> httpx.Response:
        """A form POST as the page sends it (with the session's ``csrf_token`` field)."""
        body = {**data, "csrf_token": self.csrf} if csrf else data
        return self.client.post(path, data=body)


@pytest.fixture(scope="session")
def dash_server(servers: ServerFactory) -> LiveServer:
    return servers.start_shared(
        **FAST_HASH, login_failures_per_minute=1_000_000,
        login_failures_per_account_per_minute=1_000_000,
    )  # fmt: skip


def browser_client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30.0, follow_redirects=False)


def new_org(server: LiveServer, name: str | None = None) -> str:
    with server.admin() as admin:
        r = admin.post("/api/orgs", json={"name": name or f"dash-{secrets.token_hex(3)}"})
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


def sign_in(server: LiveServer, email: str, password: str) -> httpx.Client:
    """A client signed in through the sign-in form's POST to ``/auth/login``."""
    client = browser_client(server)
    r = client.post("/auth/login", data={"email": email, "password": password, "next": "/"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"
    return client


def join(server: LiveServer, org_id: str, role: str, name: str | None = None) -> Person:
    """A new member with ``role`` (invitation accepted), signed in through the form."""
    email = f"{role}-{secrets.token_hex(4)}@example.test"
    password = "pw-" + secrets.token_urlsafe(12)
    token = invite(server, org_id, email, role)
    with browser_client(server) as client:
        r = client.post(
            f"/auth/invitations/{token}/accept",
            json={"name": name or role.title(), "password": password},
        )
        assert r.status_code == 200, r.text
        user_id: str = r.json()["data"]["user"]["id"]
    return Person(user_id, email, password, role, sign_in(server, email, password))


def add_to(server: LiveServer, org_id: str, person: Person, role: str) -> None:
    """Make an existing person a member of another organisation too."""
    with server.admin() as admin:
        r = admin.post(f"/api/orgs/{org_id}/members", json={"email": person.email, "role": role})
        assert r.status_code == 201, r.text


@dataclass
class Team:
    org_id: str
    members: dict[str, Person]

    def __getitem__(self, role: str) -> Person:
        return self.members[role]

    def url(self, path: str = "") -> str:
        return f"/orgs/{self.org_id}{path}"


@pytest.fixture
def team(dash_server: LiveServer) -> Iterator[Team]:
    """A fresh organisation with one signed-in member of each role."""
    org_id = new_org(dash_server)
    members = {r: join(dash_server, org_id, r) for r in ("viewer", "editor", "admin", "owner")}
    yield Team(org_id, members)
    for person in members.values():
        person.client.close()


def api_token(server: LiveServer, org_id: str) -> httpx.Client:
    """A ``*`` service-token client of ``org_id`` (to set up data through the API)."""
    with server.admin() as admin:
        r = admin.post(f"/api/orgs/{org_id}/tokens", json={"name": "setup", "scopes": ["*"]})
        assert r.status_code == 201, r.text
    return server.client(r.json()["data"]["token"])


def shop_with_buys(api: httpx.Client, org_id: str) -> tuple[str, str]:
    """A project ``shop`` with a binary metric ``buy`` ("Buys"): their ids."""
    r = api.post(f"/api/orgs/{org_id}/projects", json={"key": "shop", "name": "Shop"})
    assert r.status_code == 201, r.text
    project = str(r.json()["data"]["id"])
    r = api.post(f"/api/orgs/{org_id}/metrics", json={
        "project_id": project, "key": "buy", "name": "Buys", "type": "binary",
        "event_name": "buy"})  # fmt: skip
    assert r.status_code == 201, r.text
    return project, str(r.json()["data"]["id"])


def hidden(html: str, name: str) -> str:
    """The value of the (first) hidden input ``name`` of a page."""
    found = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert found, f"no hidden field {name!r}"
    return html_lib.unescape(found.group(1))


def main_of(html: str) -> str:
    """The page's <main> element (what a page shows, without the navigation)."""
    start = html.index("<main")
    return html[start : html.index("</main>", start)]
