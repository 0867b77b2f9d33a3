"""Personal access tokens: the role bounds them at every request; admins see and revoke them."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from avsb.cli.main import app as cli_app
from avsb.server.auth.authenticator import TOKEN_SCOPE, Authenticator
from avsb.server.db import Database
from avsb.server.errors import Unauthorized
from tests.integration.people.conftest import Team, bearer, make_pat
from tests.support.servers import ApiClient, LiveServer


def _until(check: httpx.Client, path: str, status: int, seconds: float = 3.0) -> int:
    """The status of GET ``path`` once it is ``status`` (or the last one after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        got = check.get(path).status_code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_pat_loses_rights_the_moment_its_user_is_demoted(
    people_server: LiveServer, team: Team
) -> None:
    editor, owner = team.members["editor"], team.members["owner"]
    pat = make_pat(editor, ["projects:write", "experiments:write"])
    projects = f"/api/orgs/{team.org_id}/projects"
    with bearer(people_server, pat["token"]) as c:
        assert c.post(projects, json={"key": "a", "name": "A"}).status_code == 201
        r = owner.client.patch(
            f"/api/orgs/{team.org_id}/members/{editor.user_id}", json={"role": "viewer"}
        )
        assert r.status_code == 200
        r = c.post(projects, json={"key": "b", "name": "B"})  # the very next request
        assert r.status_code == 403
        assert r.json()["error"]["details"] == {"missingScope": "projects:write"}
        assert c.get(projects).status_code == 200
        assert c.get("/api/me").json()["data"]["scopes"] == ["experiments:read", "projects:read"]


def test_pat_scopes_cannot_exceed_role_and_pat_cannot_mint_pat(
    people_server: LiveServer, team: Team
) -> None:
    viewer = team.members["viewer"]
    r = viewer.client.post("/api/me/tokens", json={"name": "x", "scopes": ["projects:write"]})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "scope_escalation"
    r = viewer.client.post("/api/me/tokens", json={"name": "x", "scopes": ["*"]})
    assert r.status_code == 403
    pat = make_pat(viewer, ["projects:read"])
    with bearer(people_server, pat["token"]) as c:
        r = c.post("/api/me/tokens", json={"name": "y", "scopes": ["projects:read"]})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "session_required"


def test_own_list_revoke_and_admin_view(people_server: LiveServer, team: Team) -> None:
    editor, admin, viewer = team.members["editor"], team.members["admin"], team.members["viewer"]
    first = make_pat(editor, ["projects:read"])
    second = make_pat(editor, ["flags:read"])
    mine = editor.client.get("/api/me/tokens").json()["data"]
    assert {t["id"] for t in mine} == {first["id"], second["id"]}
    assert all("token" not in t and t["user_id"] == editor.user_id for t in mine)
    assert viewer.client.delete(f"/api/me/tokens/{first['id']}").status_code == 404
    assert editor.client.delete(f"/api/me/tokens/{first['id']}").status_code == 204
    with bearer(people_server, first["token"]) as c:
        assert c.get("/api/me").status_code == 401
    # an admin lists a member's PATs and revokes one through the org's tokens
    listed = admin.client.get(f"/api/orgs/{team.org_id}/members/{editor.user_id}/tokens")
    assert listed.status_code == 200
    assert {t["id"] for t in listed.json()["data"]} == {first["id"], second["id"]}
    org_list = admin.client.get(f"/api/orgs/{team.org_id}/tokens", params={"kind": "pat"})
    assert {t["id"] for t in org_list.json()["data"]} == {first["id"], second["id"]}
    # ... but never takes its secret or widens it
    r = admin.client.post(f"/api/orgs/{team.org_id}/tokens/{second['id']}/rotate")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "personal_token"
    r = admin.client.patch(
        f"/api/orgs/{team.org_id}/tokens/{second['id']}", json={"scopes": ["flags:write"]}
    )
    assert r.status_code == 403
    r = admin.client.post(f"/api/orgs/{team.org_id}/tokens/{second['id']}/revoke")
    assert r.status_code == 200, r.text
    with bearer(people_server, second["token"]) as c:
        assert c.get("/api/me").status_code == 401
    r = viewer.client.get(f"/api/orgs/{team.org_id}/members/{editor.user_id}/tokens")
    assert r.status_code == 200  # viewers read everything, tokens included (never secrets)


def test_audit_of_pat_names_the_user_and_the_token(people_server: LiveServer, team: Team) -> None:
    editor = team.members["editor"]
    pat = make_pat(editor, ["projects:write"])
    with bearer(people_server, pat["token"]) as c:
        assert (
            c.post(f"/api/orgs/{team.org_id}/projects", json={"key": "z", "name": "Z"}).status_code
            == 201
        )
    with people_server.admin() as admin:
        (event,) = admin.get(
            f"/api/orgs/{team.org_id}/audit", params={"action": "project.created"}
        ).json()["data"]
    assert event["actor_type"] == "user"
    assert event["actor_id"] == editor.user_id
    assert event["actor_name"] == editor.email
    assert event["actor_token_id"] == pat["id"]
    assert event["source"] == "api"


def test_removed_member_pat_stops(people_server: LiveServer, team: Team) -> None:
    editor, admin = team.members["editor"], team.members["admin"]
    pat = make_pat(editor, ["projects:read"])
    with bearer(people_server, pat["token"]) as c:
        assert c.get(f"/api/orgs/{team.org_id}/projects").status_code == 200
        r = admin.client.delete(f"/api/orgs/{team.org_id}/members/{editor.user_id}")
        assert r.status_code == 204
        assert c.get(f"/api/orgs/{team.org_id}/projects").status_code == 401


def test_disabled_user__sessions_and_pats_stop(people_server: LiveServer, team: Team) -> None:
    editor = team.members["editor"]
    pat = make_pat(editor, ["projects:read"])
    path = f"/api/orgs/{team.org_id}/projects"
    env = {"AVSB_DATABASE_URL": people_server.settings.resolved_database_url,
           "AVSB_DATA_DIR": str(people_server.settings.data_dir)}  # fmt: skip
    with bearer(people_server, pat["token"]) as c:
        assert c.get(path).status_code == 200
        assert editor.client.get(path).status_code == 200
        result = CliRunner().invoke(cli_app, ["user", "disable", "--email", editor.email], env=env)
        assert result.exit_code == 0, result.output
        # another process (the CLI) changed it: this server sees it at its next change poll
        assert _until(c, path, 401) == 401
        # the PAT may be read afresh (401) before the poll clears the cached session
        assert _until(editor.client, path, 401) == 401
        r = editor.client.post(
            "/auth/login", json={"email": editor.email, "password": editor.password}
        )
        assert r.status_code == 401


def test_a_read_overtaken_by_a_change__not_cached(database: Database, api: ApiClient) -> None:
    """A credential read from the database just before a change is announced must not be cached
    after the announcement: it may hold the very right the change took away."""
    made = api.post(api.org("/tokens"), json={"name": "racy", "scopes": ["projects:read"]})
    assert made.status_code == 201, made.text
    token = made.json()["data"]

    class Overtaken(Authenticator):
        loads = 0

        def _load(self, digest: str, now: float) -> Any:
            entry = super()._load(digest, now)  # read while the token is still valid ...
            self.loads += 1
            if self.loads == 1:
                revoked = api.delete(api.org(f"/tokens/{token['id']}"))  # ... then revoked
                assert revoked.status_code == 204, revoked.text
                self.invalidate(TOKEN_SCOPE, 1)  # and the change announced before the store
            return entry

    auth = Overtaken(database, 1000)
    assert auth.authenticate(token["token"], "test").token_id == token["id"]
    with pytest.raises(Unauthorized):
        auth.authenticate(token["token"], "test")
    assert auth.loads == 2  # read again, not answered from a stale cache entry
