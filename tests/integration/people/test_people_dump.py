"""No secret of a person is stored: a dump of every table and column holds none of them."""

from __future__ import annotations

from sqlalchemy import MetaData, select

from avsb.server.db import Database
from tests.integration.people.conftest import browser, invite, join, make_pat, new_org
from tests.support.servers import LiveServer


def _dump(database: Database) -> str:
    """Every row of every table (reflected from the database itself), as text."""
    meta = MetaData()
    with database.session(write=False) as session:
        meta.reflect(bind=session.connection())
        parts = []
        for table in meta.sorted_tables:
            for row in session.execute(select(table)):
                parts.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(parts)


def test_dump_has_no_password_session_id_pat_or_invitation_token(
    people_server: LiveServer, database: Database
) -> None:
    org_id = new_org(people_server)
    person = join(people_server, org_id, "admin")
    secrets_made = [person.password, person.session_cookie, person.client.cookies["avsb_csrf"]]
    pat = make_pat(person, ["projects:read"])
    secrets_made.append(pat["token"])
    with browser(people_server) as second:  # a second sign-in, a second session id
        r = second.post("/auth/login", json={"email": person.email, "password": person.password})
        assert r.status_code == 200
        secrets_made.append(second.cookies["avsb_session"])
    used = invite(people_server, org_id, "used@example.test", "viewer")
    with browser(people_server) as c:
        body = {"name": "U", "password": "used-invite-password"}
        assert c.post(f"/auth/invitations/{used}/accept", json=body).status_code == 200
        secrets_made += ["used-invite-password", c.cookies["avsb_session"]]
    pending = invite(people_server, org_id, "pending@example.test", "editor")
    secrets_made += [used, pending]
    # the invitation URL carried by an audit-logged creation is not stored either
    dump = _dump(database)
    assert "users: " in dump
    assert "user_sessions: " in dump
    assert "invitations: " in dump
    assert person.email in dump  # the dump does hold the people's rows
    for secret in secrets_made:
        assert secret not in dump, f"a secret is stored: {secret[:6]}…"
    person.client.close()
