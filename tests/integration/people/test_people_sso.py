"""Single sign-on into real users, memberships and sessions: the whole authorisation-code flow
against a real OpenID Connect provider (``oidc-provider`` on loopback), then the dashboard
session it made, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from avsb.cli.main import app as cli_app
from avsb.server.auth.sessions import csrf_token
from tests.integration.people.conftest import FAST_HASH, browser, join, new_org
from tests.support.oidc import OidcProvider, oidc_provider, sign_in_at_provider
from tests.support.servers import LiveServer, ServerFactory, free_port


@dataclass
class Sso:
    server: LiveServer
    provider: OidcProvider


@pytest.fixture(scope="module")
def sso(servers: ServerFactory) -> Iterator[Sso]:
    """AvsB with SSO on (first sign-in: editor) and the provider redirecting back to it."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    with oidc_provider(public_url + "/auth/oidc/callback") as provider:
        server = servers.start(
            port,
            oidc_issuer=provider.issuer,
            oidc_client_id=provider.client_id,
            oidc_client_secret=SecretStr(provider.client_secret),
            oidc_allowed_domains="example.com",
            oidc_default_role="editor",
            public_url=public_url,
            **FAST_HASH,
        )
        yield Sso(server, provider)


def _sign_in(sso: Sso, login: str) -> tuple[httpx.Response, httpx.Client]:
    """A fresh browser through /auth/oidc/login, the provider's pages and the callback."""
    client = browser(sso.server)
    started = client.get("/auth/oidc/login")
    assert started.status_code == 302, started.text
    callback = sign_in_at_provider(client, started.headers["location"], login)
    return client.get(callback), client


def _me(client: httpx.Client) -> dict[str, Any]:
    r = client.get("/api/me")
    assert r.status_code == 200, r.text
    me: dict[str, Any] = r.json()["data"]
    return me


def _audit(server: LiveServer, org_id: str, user_id: str) -> list[dict[str, Any]]:
    with server.admin() as admin:
        r = admin.get(f"/api/orgs/{org_id}/audit", params={"resource_id": user_id})
        assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["data"]
    return events


def _cli(server: LiveServer, *args: str) -> None:
    env = {"AVSB_DATABASE_URL": server.settings.resolved_database_url,
           "AVSB_DATA_DIR": str(server.settings.data_dir)}  # fmt: skip
    result = CliRunner().invoke(cli_app, list(args), env=env)
    assert result.exit_code == 0, result.output


def test_providers__advertise_the_sso_button(sso: Sso, people_server: LiveServer) -> None:
    with browser(sso.server) as client:
        r = client.get("/auth/providers")
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {
            "password": True,
            "oidc": {"enabled": True, "login_url": "/auth/oidc/login"},
        }
        assert client.get(r.json()["data"]["oidc"]["login_url"]).status_code == 302
    with browser(people_server) as client:
        off = client.get("/auth/providers").json()["data"]
        assert off == {"password": True, "oidc": {"enabled": False, "login_url": None}}


def test_first_sign_in__creates_the_user_with_the_default_role(sso: Sso) -> None:
    email = f"new-{secrets.token_hex(4)}@example.com"
    answer, client = _sign_in(sso, email)
    with closing(client):
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/"
        raw = client.cookies["avsb_session"]
        assert client.cookies["avsb_csrf"] == csrf_token(raw)  # as a password sign-in
        me = _me(client)
        assert me["kind"] == "user"
        assert me["user"]["email"] == email
        assert me["user"]["name"] == f"Test {email.split('@')[0]}"
        assert me["org_id"] == sso.server.default_org  # the organisation bootstrap made
        assert me["role"] == "editor"
        user_id = me["user"]["id"]
        # A dashboard session: state changes need its CSRF token, then work.
        client.headers["X-CSRF-Token"] = client.cookies["avsb_csrf"]
        assert client.post("/auth/logout").status_code == 204
        assert client.get("/api/me").status_code == 401
    # No password was set: password sign-in is refused.
    with browser(sso.server) as other:
        r = other.post("/auth/login", json={"email": email, "password": "any password"})
        assert r.status_code == 401
    events = _audit(sso.server, sso.server.default_org, user_id)
    actions = sorted(e["action"] for e in events)
    assert actions == ["member.added", "user.created", "user.signed_in"]
    for event in events:
        assert event["actor_id"] == user_id
        assert event["actor_name"] == email
        assert event["source"] == "dashboard"
    signed_in = next(e for e in events if e["action"] == "user.signed_in")
    assert signed_in["diff"] == {"method": {"from": None, "to": "sso"}}


def test_second_sign_in__same_user_new_session(sso: Sso) -> None:
    email = f"again-{secrets.token_hex(4)}@example.com"
    first, one = _sign_in(sso, email)
    second, two = _sign_in(sso, email)
    with closing(one), closing(two):
        assert first.status_code == second.status_code == 303
        assert one.cookies["avsb_session"] != two.cookies["avsb_session"]
        me_one, me_two = _me(one), _me(two)
        assert me_one["user"]["id"] == me_two["user"]["id"]
        two.headers["X-CSRF-Token"] = two.cookies["avsb_csrf"]
        sessions = two.get("/api/me/sessions").json()["data"]
        assert len(sessions) == 2
    with sso.server.admin() as admin:
        members = admin.get(f"/api/orgs/{sso.server.default_org}/members", params={"limit": 200})
        assert members.status_code == 200, members.text
        assert [m["email"] for m in members.json()["data"]].count(email) == 1
    events = _audit(sso.server, sso.server.default_org, me_one["user"]["id"])
    assert sorted(e["action"] for e in events).count("user.signed_in") == 2
    assert [e["action"] for e in events].count("user.created") == 1


def test_existing_password_user__linked_keeps_role_and_org(sso: Sso) -> None:
    org_id = new_org(sso.server)
    person = join(sso.server, org_id, "admin", email=f"Linked-{secrets.token_hex(4)}@example.com")
    person.client.close()
    answer, client = _sign_in(sso, person.email.lower())
    with closing(client):
        assert answer.status_code == 303, answer.text
        me = _me(client)
        assert me["user"]["id"] == person.user_id
        assert me["org_id"] == org_id
        assert me["role"] == "admin"  # not the SSO default role
    # The password still works, and a second SSO sign-in finds the link.
    with browser(sso.server) as other:
        r = other.post("/auth/login", json={"email": person.email, "password": person.password})
        assert r.status_code == 200, r.text
    again, client = _sign_in(sso, person.email.lower())
    with closing(client):
        assert again.status_code == 303, again.text
        assert _me(client)["user"]["id"] == person.user_id
    actions = [e["action"] for e in _audit(sso.server, org_id, person.user_id)]
    assert actions.count("user.identity_linked") == 1
    assert actions.count("user.signed_in") == 2
    assert "user.created" not in actions
    with sso.server.admin() as admin:
        default = admin.get(f"/api/orgs/{sso.server.default_org}/members", params={"limit": 200})
        assert person.user_id not in [m["id"] for m in default.json()["data"]]


def test_disabled_user__refused_without_a_session(sso: Sso) -> None:
    email = f"gone-{secrets.token_hex(4)}@example.com"
    answer, client = _sign_in(sso, email)
    client.close()
    assert answer.status_code == 303
    _cli(sso.server, "user", "disable", "--email", email)
    refused, client = _sign_in(sso, email)
    with closing(client):
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["code"] == "user_disabled"
        assert error["request_id"]
        assert "avsb_session" not in refused.cookies
        assert client.get("/api/me").status_code == 401
    # A disabled password user with the same e-mail is refused, and not linked.
    org_id = new_org(sso.server)
    person = join(sso.server, org_id, "viewer", f"off-{secrets.token_hex(4)}@example.com")
    person.client.close()
    _cli(sso.server, "user", "disable", "--email", person.email)
    refused, client = _sign_in(sso, person.email)
    with closing(client):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "user_disabled"
    _cli(sso.server, "user", "disable", "--enable", "--email", person.email)
    actions = [e["action"] for e in _audit(sso.server, org_id, person.user_id)]
    assert "user.identity_linked" not in actions
    assert "user.signed_in" not in actions
