"""Members, roles, invitations (single use, SMTP delivery) and the last-owner rule."""

from __future__ import annotations

import secrets

from tests.integration.people.conftest import FAST_HASH, Team, browser, invite, join, new_org
from tests.support.servers import LiveServer, ServerFactory, free_port
from tests.support.smtp import SmtpReceiver


class TestInvitations:
    def test_used_twice__409(self, people_server: LiveServer) -> None:
        org_id = new_org(people_server)
        token = invite(people_server, org_id, "twice@example.test", "editor")
        body = {"name": "T", "password": "a-long-password"}
        with browser(people_server) as c1, browser(people_server) as c2:
            first = c1.post(f"/auth/invitations/{token}/accept", json=body)
            assert first.status_code == 200, first.text
            assert first.json()["data"]["user"]["email"] == "twice@example.test"
            second = c2.post(f"/auth/invitations/{token}/accept", json=body)
            assert second.status_code == 409
            assert second.json()["error"]["code"] == "invitation_used"
            assert "avsb_session" not in c2.cookies
            r = c1.get(f"/api/orgs/{org_id}/members")
            assert r.status_code == 200
            roles = {m["email"]: m["role"] for m in r.json()["data"]}
            assert roles == {"twice@example.test": "editor"}

    def test_unknown_token__404(self, people_server: LiveServer) -> None:
        with browser(people_server) as c:
            r = c.post("/auth/invitations/nope/accept", json={"password": "a-long-password"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "invitation_invalid"

    def test_short_password__422(self, people_server: LiveServer) -> None:
        token = invite(people_server, new_org(people_server), "short@example.test", "viewer")
        with browser(people_server) as c:
            r = c.post(f"/auth/invitations/{token}/accept", json={"password": "short"})
        assert r.status_code == 422
        with browser(people_server) as c:  # still usable after the refused attempt
            ok = c.post(f"/auth/invitations/{token}/accept", json={"password": "long-enough-pw"})
        assert ok.status_code == 200

    def test_admin_cannot_invite_owner(self, team: Team) -> None:
        admin, owner = team.members["admin"], team.members["owner"]
        body = {"email": "boss@example.test", "role": "owner"}
        r = admin.client.post(f"/api/orgs/{team.org_id}/invitations", json=body)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "owner_required"
        assert (
            owner.client.post(f"/api/orgs/{team.org_id}/invitations", json=body).status_code == 201
        )

    def test_editor_cannot_invite(self, team: Team) -> None:
        r = team.members["editor"].client.post(
            f"/api/orgs/{team.org_id}/invitations", json={"email": "e@x.test", "role": "viewer"}
        )
        assert r.status_code == 403
        assert r.json()["error"]["details"] == {"missingScope": "members:write"}


class TestMembers:
    def test_add_existing_user_and_change_role(self, people_server: LiveServer, team: Team) -> None:
        other_org = new_org(people_server)
        outsider = join(people_server, other_org, "viewer")
        admin = team.members["admin"]
        url = f"/api/orgs/{team.org_id}/members"
        r = admin.client.post(url, json={"email": outsider.email.upper(), "role": "editor"})
        assert r.status_code == 201, r.text
        assert outsider.client.get(f"/api/orgs/{team.org_id}/projects").status_code == 200
        # two orgs: the role follows the org in the path
        project = {"key": "pk", "name": "P"}
        assert (
            outsider.client.post(f"{url.rsplit('/', 1)[0]}/projects", json=project).status_code
            == 201
        )
        assert (
            outsider.client.post(f"/api/orgs/{other_org}/projects", json=project).status_code == 403
        )
        orgs = {o["id"] for o in outsider.client.get("/api/orgs").json()["data"]}
        assert orgs == {team.org_id, other_org}
        r = admin.client.patch(f"{url}/{outsider.user_id}", json={"role": "viewer"})
        assert r.status_code == 200
        assert r.json()["data"]["role"] == "viewer"
        r = outsider.client.post(
            f"/api/orgs/{team.org_id}/projects", json={"key": "x", "name": "x"}
        )
        assert r.status_code == 403
        assert admin.client.delete(f"{url}/{outsider.user_id}").status_code == 204
        assert outsider.client.get(f"/api/orgs/{team.org_id}/projects").status_code == 404
        assert (
            admin.client.post(url, json={"email": "ghost@x.test", "role": "viewer"}).status_code
            == 422
        )
        outsider.client.close()

    def test_only_owners_manage_owners(self, team: Team) -> None:
        admin, owner, editor = (team.members[r] for r in ("admin", "owner", "editor"))
        url = f"/api/orgs/{team.org_id}/members"
        r = admin.client.patch(f"{url}/{editor.user_id}", json={"role": "owner"})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "owner_required"
        r = admin.client.patch(f"{url}/{owner.user_id}", json={"role": "viewer"})
        assert r.status_code == 403
        assert admin.client.delete(f"{url}/{owner.user_id}").status_code == 403
        assert (
            owner.client.patch(f"{url}/{editor.user_id}", json={"role": "owner"}).status_code == 200
        )

    def test_last_owner_cannot_be_removed_or_demoted(self, team: Team) -> None:
        owner, admin = team.members["owner"], team.members["admin"]
        url = f"/api/orgs/{team.org_id}/members/{owner.user_id}"
        r = owner.client.patch(url, json={"role": "admin"})
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "last_owner"
        r = owner.client.delete(url)
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "last_owner"
        # with a second owner, the first may step down
        second = f"/api/orgs/{team.org_id}/members/{admin.user_id}"
        assert owner.client.patch(second, json={"role": "owner"}).status_code == 200
        assert owner.client.patch(url, json={"role": "admin"}).status_code == 200

    def test_audit_names_the_person(self, people_server: LiveServer, team: Team) -> None:
        editor = team.members["editor"]
        r = editor.client.post(f"/api/orgs/{team.org_id}/projects", json={"key": "a", "name": "A"})
        assert r.status_code == 201
        with people_server.admin() as admin:
            events = admin.get(
                f"/api/orgs/{team.org_id}/audit", params={"action": "project.created"}
            ).json()["data"]
        (event,) = events
        assert (event["actor_type"], event["actor_id"], event["actor_name"]) == (
            "user", editor.user_id, editor.email,
        )  # fmt: skip
        assert event["source"] == "dashboard"
        assert event["actor_token_id"] is None


def test_invitation_emailed_over_smtp(servers: ServerFactory, smtp: SmtpReceiver) -> None:
    server = servers.start(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="avsb@example.test",
        public_url="http://avsb.example:8008", **FAST_HASH,
    )  # fmt: skip
    try:
        org_id = new_org(server)
        email = f"mailme-{secrets.token_hex(3)}@example.test"
        with server.admin() as admin:
            r = admin.post(
                f"/api/orgs/{org_id}/invitations", json={"email": email, "role": "viewer"}
            )
        assert r.status_code == 201, r.text
        data = r.json()["data"]
        assert data["emailed"] is True
        assert data["url"].startswith("http://avsb.example:8008/join/")
        ((sender, rcpts, body),) = smtp.messages
        assert "avsb@example.test" in sender
        assert email in rcpts[0]
        assert data["url"] in body.replace("=\r\n", "")
    finally:
        server.stop()


def test_smtp_down__503_and_no_invitation_kept(servers: ServerFactory) -> None:
    server = servers.start(smtp_host="127.0.0.1", smtp_port=free_port(), **FAST_HASH)
    try:
        org_id = new_org(server)
        with server.admin() as admin:
            r = admin.post(
                f"/api/orgs/{org_id}/invitations",
                json={"email": "x@example.test", "role": "viewer"},
            )
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "smtp_failed"
            events = admin.get(f"/api/orgs/{org_id}/audit", params={"action": "invitation.created"})
            assert events.json()["data"] == []
    finally:
        server.stop()
