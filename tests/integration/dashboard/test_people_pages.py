"""Organisation and account pages over HTTP: members (role change, removal, the last-owner
rule), invitations (link shown once, emailed when SMTP is set, revoke), service tokens and
SDK keys (secret shown once, revoke), the person's own tokens and sessions."""

from __future__ import annotations

import re
import secrets

import httpx

from tests.integration.dashboard.conftest import (
    FAST_HASH,
    XSS,
    Team,
    api_token,
    browser_client,
    join,
    main_of,
    new_org,
)
from tests.support.servers import LiveServer, ServerFactory
from tests.support.smtp import SmtpReceiver


def _secret(html: str) -> str:
    found = re.search(r'<input id="secret" type="text" readonly value="([^"]+)">', html)
    assert found, "no secret on the page"
    assert 'data-copy="secret"' in html  # with its copy button
    return found.group(1).replace("&amp;", "&")


def test_members__change_role_remove_and_the_last_owner_rule(team: Team) -> None:
    owner, viewer = team["owner"], team["viewer"]
    page = owner.get(team.url("/members"))
    assert page.status_code == 200
    for person in team.members.values():
        assert person.email in page.text
    assert "Change role" in page.text
    # A viewer reads the list but gets no controls.
    seen = main_of(viewer.get(team.url("/members")).text)
    assert team["editor"].email in seen
    assert "Change role" not in seen
    assert "Invite someone" not in seen
    forged = viewer.post_form(team.url(f"/members/{viewer.user_id}/role"), {"role": "owner"})
    assert forged.status_code == 403

    editor_id = team["editor"].user_id
    r = owner.post_form(team.url(f"/members/{editor_id}/role"), {"role": "admin"})
    assert r.status_code == 303
    assert "Role changed to admin." in owner.get(r.headers["location"]).text
    # The last owner cannot step down: the rule's message is shown.
    r = owner.post_form(team.url(f"/members/{owner.user_id}/role"), {"role": "viewer"})
    shown = owner.get(r.headers["location"]).text
    assert "The last owner of an organisation cannot be removed or demoted" in shown
    assert 'class="flash flash-error"' in shown
    # Removal goes through a confirmation page.
    confirm = owner.get(team.url(f"/members/{viewer.user_id}/remove"))
    assert "Remove member" in confirm.text
    assert viewer.email in confirm.text
    r = owner.post_form(team.url(f"/members/{viewer.user_id}/remove"), {})
    assert r.status_code == 303
    assert viewer.email not in owner.get(team.url("/members")).text
    assert viewer.get(team.url("/members")).status_code == 404  # no longer a member
    # An admin (the promoted editor) may not manage owners: the service's message is shown.
    r = team["editor"].post_form(team.url(f"/members/{owner.user_id}/role"), {"role": "viewer"})
    assert "Only an owner may manage owners." in team["editor"].get(r.headers["location"]).text


def test_invitations__link_shown_once_accepted_or_revoked(
    dash_server: LiveServer, team: Team
) -> None:
    admin = team["admin"]
    bad = admin.post_form(team.url("/invitations"), {"email": "nobody", "role": "editor"})
    assert bad.status_code == 422
    assert 'id="f-email-error"' in bad.text
    r = admin.post_form(team.url("/invitations"), {"email": "new@example.test", "role": "editor"})
    assert r.status_code == 200
    url = _secret(r.text)
    assert url.startswith(dash_server.url + "/join/")
    listing = admin.get(team.url("/members")).text
    assert "new@example.test" in listing
    token = url.rsplit("/", 1)[-1]
    with browser_client(dash_server) as anyone:
        ok = anyone.post(
            f"/auth/invitations/{token}/accept", json={"name": XSS, "password": "pw-long-enough-1"}
        )
        assert ok.status_code == 200, ok.text
    members = admin.get(team.url("/members")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in members  # the name, as text
    assert XSS not in members
    # Revoke another one: its link stops working.
    r = admin.post_form(team.url("/invitations"), {"email": "gone@example.test", "role": "viewer"})
    gone = _secret(r.text).rsplit("/", 1)[-1]
    inv_id = re.search(
        r'/invitations/(inv_[a-z0-9]+)/revoke"', admin.get(team.url("/members")).text
    )
    assert inv_id
    assert "Revoke invitation" in admin.get(team.url(f"/invitations/{inv_id.group(1)}/revoke")).text
    r = admin.post_form(team.url(f"/invitations/{inv_id.group(1)}/revoke"), {})
    assert r.status_code == 303
    after = admin.get(team.url("/members")).text
    assert "Invitation for gone@example.test revoked." in after
    assert "<td>gone@example.test</td>" not in after
    with browser_client(dash_server) as anyone:
        refused = anyone.post(
            f"/auth/invitations/{gone}/accept", json={"name": "G", "password": "pw-long-enough-1"}
        )
        assert refused.status_code == 404


def test_tokens__secret_once_works_then_revoked(dash_server: LiveServer, team: Team) -> None:
    admin = team["admin"]
    page = admin.get(team.url("/tokens"))
    assert page.status_code == 200
    bad = admin.client.post(
        team.url("/tokens"), data={"csrf_token": admin.csrf, "name": XSS, "kind": "service"}
    )
    assert bad.status_code == 422
    assert 'id="f-scopes-error"' in bad.text
    made = admin.client.post(
        team.url("/tokens"),
        data={"csrf_token": admin.csrf, "name": XSS, "kind": "service",
              "scopes": ["projects:read", "audit:read"], "expires_at": ""},
    )  # fmt: skip
    assert made.status_code == 200, made.text
    secret = _secret(made.text)
    assert secret.startswith("avsb_svc_")
    with httpx.Client(base_url=dash_server.url, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get(f"/api/orgs/{team.org_id}/projects").status_code == 200
        listing = admin.get(team.url("/tokens")).text
        assert secret not in listing  # never shown again
        assert "&lt;script&gt;" in listing
        token_id = re.findall(r"/tokens/(tok_[a-z0-9]+)/revoke", listing)[-1]
        assert "Revoke" in admin.get(team.url(f"/tokens/{token_id}/revoke")).text
        assert admin.post_form(team.url(f"/tokens/{token_id}/revoke"), {}).status_code == 303
        assert c.get(f"/api/orgs/{team.org_id}/projects").status_code == 401
    # An SDK key for a project.
    with api_token(dash_server, team.org_id) as api:
        prj = api.post(f"/api/orgs/{team.org_id}/projects", json={"key": "p", "name": "P"})
        project_id = prj.json()["data"]["id"]
    assert project_id in admin.get(team.url("/tokens")).text  # offered in the form
    sdk = admin.post_form(
        team.url("/tokens"), {"name": "web", "kind": "sdk", "project_id": project_id}
    )
    assert sdk.status_code == 200, sdk.text
    assert _secret(sdk.text).startswith("avsb_sdk_")
    # An editor reads nothing here to change; a forged create is refused.
    editor = team["editor"]
    assert "New token" not in main_of(editor.get(team.url("/tokens")).text)
    assert editor.post_form(team.url("/tokens"), {"name": "x"}).status_code == 403


def test_account__personal_tokens_and_sessions(dash_server: LiveServer, team: Team) -> None:
    editor = team["editor"]
    page = editor.get("/account")
    assert page.status_code == 200
    assert "this browser" in page.text
    assert 'value="tokens:write"' not in page.text  # not offered beyond the role
    made = editor.client.post(
        "/account/tokens",
        data={"csrf_token": editor.csrf, "name": "cli", "scopes": ["projects:read"]},
    )
    assert made.status_code == 200, made.text
    secret = _secret(made.text)
    with httpx.Client(base_url=dash_server.url, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get("/api/me").json()["data"]["user"]["email"] == editor.email
        token_id = re.search(r"/account/tokens/(tok_[a-z0-9]+)/revoke", editor.get("/account").text)
        assert token_id
        assert (
            editor.post_form(f"/account/tokens/{token_id.group(1)}/revoke", {}).status_code == 303
        )
        assert c.get("/api/me").status_code == 401
    escalate = editor.client.post(
        "/account/tokens",
        data={"csrf_token": editor.csrf, "name": "x", "scopes": ["tokens:write"]},
    )
    assert escalate.status_code == 403
    assert "cannot hold more than your role grants" in escalate.text
    r = editor.post_form("/account/sessions/end-all", {})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert editor.get("/account").headers["location"].startswith("/login")


def test_invitation_link__opens_a_page_that_joins_and_signs_in(
    dash_server: LiveServer, team: Team
) -> None:
    admin = team["admin"]
    made = admin.post_form(
        team.url("/invitations"), {"email": "joiner@example.test", "role": "editor"}
    )
    link = _secret(made.text)
    path = link.removeprefix(dash_server.url)
    with browser_client(dash_server) as browser:
        page = browser.get(path)
        assert page.status_code == 200
        assert '<label for="f-password">' in page.text
        action = re.search(r'<form method="post" action="(/join/[^"]+)"', page.text)
        assert action is not None
        short = browser.post(action.group(1), data={"name": XSS, "password": "short"})
        assert short.status_code == 422
        assert 'id="f-password-error"' in short.text
        joined = browser.post(action.group(1), data={"name": XSS, "password": "pw-long-enough-1"})
        assert joined.status_code == 303, joined.text
        assert joined.headers["location"] == "/"
        home = browser.get("/")
        assert home.headers["location"] == team.url("/projects")
        shown = browser.get(home.headers["location"])
        assert "Welcome: you joined the organisation." in shown.text
        assert "joiner@example.test" in shown.text
        again = browser.post(action.group(1), data={"name": "x", "password": "pw-long-enough-1"})
        assert again.status_code == 409
        assert "used already" in again.text
    with browser_client(dash_server) as stranger:
        bad = stranger.post("/join/not-a-token", data={"name": "x", "password": "pw-long-enough-1"})
        assert bad.status_code == 404
        assert "No such invitation." in bad.text


def test_invitation__emailed_over_smtp_and_shown_once(
    servers: ServerFactory, smtp: SmtpReceiver
) -> None:
    """The members page invites through the same service as the API: with ``AVSB_SMTP_*``
    set the link goes out by email, and the page still shows it once."""
    server = servers.start(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="avsb@example.test",
        public_url="http://avsb.example:8008", **FAST_HASH,
    )  # fmt: skip
    try:
        org_id = new_org(server, "Mail Org")
        admin = join(server, org_id, "admin")
        sent_by_api = len(smtp.messages)  # the fixture's own invitation (made over the API)
        email = f"dash-mail-{secrets.token_hex(3)}@example.test"
        r = admin.post_form(f"/orgs/{org_id}/invitations", {"email": email, "role": "editor"})
        assert r.status_code == 200, r.text
        url = _secret(r.text)
        assert re.fullmatch(r"http://avsb\.example:8008/join/[A-Za-z0-9_-]{40,}", url)
        assert f"The link was emailed to {email}" in r.text
        ((sender, rcpts, body),) = smtp.messages[sent_by_api:]
        assert "avsb@example.test" in sender
        assert rcpts == [f"<{email}>"]
        assert "Mail Org" in body
        assert url in body.replace("=\r\n", "")
        # The emailed link opens the join page.
        with browser_client(server) as invited:
            page = invited.get(url.removeprefix("http://avsb.example:8008"))
            assert page.status_code == 200
            assert '<label for="f-password">' in page.text
        admin.client.close()
    finally:
        server.stop()


def test_invitation__smtp_down__form_again_and_nothing_kept(servers: ServerFactory) -> None:
    """An email that cannot be sent: the form again with the reason (503), and no
    invitation kept that nobody received."""
    smtp = SmtpReceiver()
    server = servers.start(smtp_host="127.0.0.1", smtp_port=smtp.port, **FAST_HASH)
    try:
        org_id = new_org(server)
        with smtp:  # up while the admin joins (through an emailed invitation) ...
            admin = join(server, org_id, "admin")
        # ... and down now: nothing listens on its port any more.
        r = admin.post_form(
            f"/orgs/{org_id}/invitations", {"email": "lost@example.test", "role": "viewer"}
        )
        assert r.status_code == 503, r.text
        assert "The invitation email could not be sent" in main_of(r.text)
        assert 'value="lost@example.test"' in r.text  # the form keeps what was typed
        assert 'id="secret"' not in r.text
        assert "lost@example.test</td>" not in admin.get(f"/orgs/{org_id}/members").text
        with server.admin() as admin_api:
            events = admin_api.get(
                f"/api/orgs/{org_id}/audit", params={"action": "invitation.created"}
            ).json()["data"]
        assert [e for e in events if "lost@example.test" in str(e)] == []
        admin.client.close()
    finally:
        server.stop()
