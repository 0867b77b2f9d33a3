from __future__ import annotations

from tests.integration.people.conftest import Team, bearer, make_pat
from tests.support.servers import LiveServer


def test_me_for_session_and_pat(people_server: LiveServer, team: Team) -> None:
    editor = team.members["editor"]
    me = editor.client.get("/api/me")
    assert me.status_code == 200, me.text
    data = me.json()["data"]
    assert data["kind"] == "user"
    assert data["role"] == "editor"
    assert data["user"]["email"] == editor.email
    pat = make_pat(editor, ["projects:write"])
    assert pat["token"].startswith("avsb_pat_")
    with bearer(people_server, pat["token"]) as c:
        me2 = c.get("/api/me").json()["data"]
    assert me2["kind"] == "pat"
    assert me2["scopes"] == ["projects:read", "projects:write"]
