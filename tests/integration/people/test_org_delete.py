"""Deleting an organisation (``DELETE /api/orgs/{org_id}``): owners and the admin token only,
with the name as confirmation; every credential of the organisation stops at once, other
organisations are untouched, the audit trail stays."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from avsb.server.auth.roles import ROLE_SCOPES
from tests.integration.people.conftest import Team, bearer, join, make_pat, new_org
from tests.support.servers import LiveServer


@dataclass
class Estate:
    """An organisation's things: a project, a service token, an SDK key, an owner's PAT."""

    org_id: str
    name: str
    project_id: str
    service_token: str
    sdk_key: str
    pat: str


def _orgs(admin: httpx.Client) -> list[dict[str, str]]:
    """Every organisation the admin token sees, following the pages (the suite's shared
    database holds many)."""
    found: list[dict[str, str]] = []
    params: dict[str, str] = {}
    while True:
        body = admin.get("/api/orgs", params=params).json()
        found += body["data"]
        if not body["has_more"]:
            return found
        params["cursor"] = body["next_cursor"]


def _org(admin: httpx.Client, org_id: str) -> dict[str, str]:
    return next(o for o in _orgs(admin) if o["id"] == org_id)


def _furnish(server: LiveServer, team: Team) -> Estate:
    with server.admin() as admin:
        org = _org(admin, team.org_id)
        base = f"/api/orgs/{team.org_id}"
        r = admin.post(f"{base}/projects", json={"key": "shop", "name": "Shop"})
        assert r.status_code == 201, r.text
        project_id = r.json()["data"]["id"]
        r = admin.post(f"{base}/tokens", json={"name": "ci", "scopes": ["projects:read"]})
        assert r.status_code == 201, r.text
        service_token = r.json()["data"]["token"]
        r = admin.post(
            f"{base}/tokens", json={"name": "web", "kind": "sdk", "project_id": project_id}
        )
        assert r.status_code == 201, r.text
        sdk_key = r.json()["data"]["token"]
        r = admin.post(
            f"{base}/webhooks",
            json={"url": "https://hooks.example.test/x", "event_types": ["experiment.started"]},
        )
        assert r.status_code == 201, r.text
    pat = make_pat(team.members["owner"], sorted(ROLE_SCOPES["owner"]))["token"]
    return Estate(team.org_id, org["name"], project_id, service_token, sdk_key, pat)


def _ofrep(server: LiveServer, key: str) -> httpx.Response:
    return httpx.post(
        server.url + "/ofrep/v1/evaluate/flags",
        headers={"Authorization": f"Bearer {key}"},
        json={"context": {"targetingKey": "u1"}},
    )


def _delete(client: httpx.Client, estate: Estate, confirm: str | None = None) -> httpx.Response:
    params = {"confirm": confirm if confirm is not None else estate.name}
    return client.delete(f"/api/orgs/{estate.org_id}", params=params)


@pytest.mark.parametrize("via", ["session", "pat"])
def test_owner_deletes_and_every_credential_stops(
    people_server: LiveServer, team: Team, via: str
) -> None:
    estate = _furnish(people_server, team)
    other = new_org(people_server)
    other_owner = join(people_server, other, "owner")
    with people_server.admin() as admin:
        r = admin.post(f"/api/orgs/{other}/projects", json={"key": "other", "name": "Other"})
        assert r.status_code == 201, r.text
    service = bearer(people_server, estate.service_token)
    pat = bearer(people_server, estate.pat)
    # Everything works before (and is cached by the authenticator).
    assert service.get(f"/api/orgs/{estate.org_id}/projects").status_code == 200
    assert pat.get(f"/api/orgs/{estate.org_id}/projects").status_code == 200
    assert _ofrep(people_server, estate.sdk_key).status_code == 200
    owner = team.members["owner"]
    assert owner.client.get(f"/api/orgs/{estate.org_id}/members").status_code == 200

    r = _delete(owner.client if via == "session" else pat, estate)
    assert r.status_code == 204, r.text

    assert service.get(f"/api/orgs/{estate.org_id}/projects").status_code == 401
    assert pat.get("/api/me").status_code == 401
    assert _ofrep(people_server, estate.sdk_key).status_code == 401
    for person in team.members.values():  # sessions live on, the organisation is gone for them
        assert person.client.get(f"/api/orgs/{estate.org_id}/projects").status_code == 404
        r = person.client.get("/api/orgs")
        assert r.status_code == 200
        assert estate.org_id not in [o["id"] for o in r.json()["data"]]
    with people_server.admin() as admin:
        assert estate.org_id not in [o["id"] for o in _orgs(admin)]
        assert admin.delete(f"/api/orgs/{estate.org_id}").status_code == 404
        # The audit trail stays, ending with the deletion (readable with the admin token).
        events = admin.get(f"/api/orgs/{estate.org_id}/audit", params={"limit": 200})
        assert events.status_code == 200, events.text
        actions = [e["action"] for e in events.json()["data"]]
        assert "organization.deleted" in actions
        assert "project.deleted" in actions
        assert "token.revoked" in actions
        deleted = next(e for e in events.json()["data"] if e["action"] == "organization.deleted")
        assert (deleted["actor_type"], deleted["actor_id"]) == ("user", owner.user_id)
        assert deleted["resource_id"] == estate.org_id
        # Another organisation is untouched.
        r = admin.get(f"/api/orgs/{other}/projects")
        assert [p["key"] for p in r.json()["data"]] == ["other"]
    assert other_owner.client.get(f"/api/orgs/{other}/members").status_code == 200
    for client in (other_owner.client, service, pat):
        client.close()


def test_only_owners_and_the_admin_token_delete(people_server: LiveServer, team: Team) -> None:
    estate = _furnish(people_server, team)
    for role in ("viewer", "editor", "admin"):
        person = team.members[role]
        r = _delete(person.client, estate)
        assert r.status_code == 403, (role, r.text)
        assert r.json()["error"]["code"] == "owner_required"
    # An owner's PAT without every owner right cannot either.
    narrow = bearer(
        people_server, make_pat(team.members["owner"], ["members:write", "projects:write"])["token"]
    )
    r = _delete(narrow, estate)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "owner_required"
    # A service token of the organisation, even with every scope, is not an owner.
    service = bearer(people_server, estate.service_token)
    assert _delete(service, estate).status_code == 403
    service.close()
    narrow.close()
    # Someone outside the organisation does not see it.
    outsider = join(people_server, new_org(people_server), "owner")
    r = _delete(outsider.client, estate)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
    outsider.client.close()
    assert _ofrep(people_server, estate.sdk_key).status_code == 200  # nothing happened
    with people_server.admin() as admin:
        assert _delete(admin, estate).status_code == 204
        assert admin.get(f"/api/orgs/{estate.org_id}/projects").json()["data"] == []
    assert _ofrep(people_server, estate.sdk_key).status_code == 401


def test_confirmation_is_required(people_server: LiveServer, team: Team) -> None:
    estate = _furnish(people_server, team)
    owner = team.members["owner"].client
    missing = owner.delete(f"/api/orgs/{estate.org_id}")
    wrong = _delete(owner, estate, confirm=estate.name + "x")
    for r in (missing, wrong):
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        assert "confirm" in error["message"]
        assert estate.name in error["message"]
    assert owner.get(f"/api/orgs/{estate.org_id}/projects").status_code == 200


def test_an_org_with_content_is_refused_whole(people_server: LiveServer, team: Team) -> None:
    estate = _furnish(people_server, team)
    owner = team.members["owner"].client
    r = owner.post(
        f"/api/orgs/{estate.org_id}/flags",
        json={"project_id": estate.project_id, "key": "banner", "name": "Banner",
              "type": "boolean", "default_value": False},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = _delete(owner, estate)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "org_not_empty"
    (held,) = r.json()["error"]["details"]["used_by"]
    assert held.startswith("flg_")
    # Nothing was half-done: the SDK key, the PAT and the project still work.
    assert _ofrep(people_server, estate.sdk_key).status_code == 200
    with bearer(people_server, estate.pat) as pat:
        r = pat.get(f"/api/orgs/{estate.org_id}/projects/{estate.project_id}")
        assert r.status_code == 200, r.text


def test_the_admin_tokens_org_is_protected(people_server: LiveServer) -> None:
    with people_server.admin() as admin:
        me = admin.get("/api/me").json()["data"]
        r = admin.delete(f"/api/orgs/{me['org_id']}", params={"confirm": me["org_name"]})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "org_protected"
        assert admin.get("/api/me").status_code == 200
