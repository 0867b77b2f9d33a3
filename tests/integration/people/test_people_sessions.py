"""Sign-in sessions: cookies, CSRF, fixation, logout, own sessions, expiry, throttling."""

from __future__ import annotations

import statistics
import time

import httpx

from tests.integration.people.conftest import (
    FAST_HASH,
    Person,
    Team,
    browser,
    join,
    new_org,
    use_csrf,
)
from tests.support.servers import LiveServer, ServerFactory


def _login(server: LiveServer, email: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """A new browser signed in (the caller closes it)."""
    client = browser(server)
    r = client.post("/auth/login", json={"email": email, "password": password})
    return client, r


def _try(server: LiveServer, email: str, password: str) -> httpx.Response:
    """One sign-in attempt from a throwaway browser."""
    with browser(server) as client:
        return client.post("/auth/login", json={"email": email, "password": password})


class TestSignIn:
    def test_json_login__cookies_httponly_lax_and_csrf(
        self, people_server: LiveServer, team: Team
    ) -> None:
        viewer = team.members["viewer"]
        client, r = _login(people_server, viewer.email.upper(), viewer.password)
        assert r.status_code == 200, r.text
        cookies = r.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("avsb_session="))
        csrf = next(c for c in cookies if c.startswith("avsb_csrf="))
        assert "HttpOnly" in session
        assert "samesite=lax" in session.lower()
        assert "Secure" not in session  # http public URL
        assert "HttpOnly" not in csrf
        assert client.cookies["avsb_csrf"] == r.json()["data"]["csrf_token"]
        assert client.get(f"/api/orgs/{team.org_id}/projects").status_code == 200
        client.close()

    def test_form_login__303_to_local_next_only(
        self, people_server: LiveServer, team: Team
    ) -> None:
        viewer = team.members["viewer"]
        with browser(people_server) as client:
            form = {"email": viewer.email, "password": viewer.password, "next": "/experiments"}
            r = client.post("/auth/login", data=form)
            assert r.status_code == 303
            assert r.headers["location"] == "/experiments"
            assert client.get("/api/me").json()["data"]["user"]["id"] == viewer.user_id
            form["next"] = "//evil.example/x"
            assert client.post("/auth/login", data=form).headers["location"] == "/"

    def test_secure_cookie_when_public_url_is_https(self, servers: ServerFactory) -> None:
        server = servers.start(public_url="https://avsb.example", **FAST_HASH)
        try:
            person = join(server, new_org(server), "viewer")
            person.client.close()
            r = _try(server, person.email, person.password)
            cookies = r.headers.get_list("set-cookie")
            assert all("Secure" in c for c in cookies if c.startswith("avsb_"))
        finally:
            server.stop()

    def test_wrong_password_and_unknown_email__same_generic_401(
        self, people_server: LiveServer, team: Team
    ) -> None:
        viewer = team.members["viewer"]
        wrong = _try(people_server, viewer.email, "not-the-password")
        unknown = _try(people_server, "nobody-here@example.test", "not-the-password")
        assert wrong.status_code == unknown.status_code == 401
        e1, e2 = wrong.json()["error"], unknown.json()["error"]
        assert (e1["code"], e1["message"]) == (e2["code"], e2["message"])
        assert e1["code"] == "invalid_credentials"
        assert "avsb_session" not in wrong.headers.get("set-cookie", "")

    def test_bad_body__422(self, people_server: LiveServer) -> None:
        with browser(people_server) as client:
            r = client.post("/auth/login", json={"email": "x@y.z"})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "validation_error"


class TestCsrf:
    def test_state_change_without_token__403_csrf_failed(self, team: Team) -> None:
        editor = team.members["editor"]
        project = {"key": "p1", "name": "P"}
        del editor.client.headers["X-CSRF-Token"]
        r = editor.client.post(f"/api/orgs/{team.org_id}/projects", json=project)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "csrf_failed"
        editor.client.headers["X-CSRF-Token"] = "0" * 64
        r = editor.client.post(f"/api/orgs/{team.org_id}/projects", json=project)
        assert r.json()["error"]["code"] == "csrf_failed"
        assert editor.client.get(f"/api/orgs/{team.org_id}/projects").json()["data"] == []
        editor.client.headers["X-CSRF-Token"] = editor.client.cookies["avsb_csrf"]
        r = editor.client.post(f"/api/orgs/{team.org_id}/projects", json=project)
        assert r.status_code == 201, r.text

    def test_logout_form_field_csrf_token(self, people_server: LiveServer, team: Team) -> None:
        viewer = team.members["viewer"]
        client = viewer.client
        del client.headers["X-CSRF-Token"]
        assert client.post("/auth/logout", data={}).status_code == 403
        r = client.post("/auth/logout", data={"csrf_token": client.cookies["avsb_csrf"]})
        assert r.status_code == 204
        assert client.get("/api/me").status_code == 401

    def test_bearer_token_needs_no_csrf(self, people_server: LiveServer, team: Team) -> None:
        with people_server.admin() as admin:
            r = admin.post(f"/api/orgs/{team.org_id}/projects", json={"key": "k", "name": "n"})
        assert r.status_code == 201


class TestSessions:
    def test_new_session_id_at_every_sign_in__old_one_ended(
        self, people_server: LiveServer, team: Team
    ) -> None:
        viewer = team.members["viewer"]
        before = viewer.session_cookie
        r = viewer.client.post(
            "/auth/login", json={"email": viewer.email, "password": viewer.password}
        )
        assert r.status_code == 200
        after = viewer.session_cookie
        assert after != before
        with browser(people_server) as planted:  # the pre-sign-in id is dead
            planted.cookies.set("avsb_session", before)
            assert planted.get("/api/me").status_code == 401
        use_csrf(viewer.client, r)
        assert viewer.client.get("/api/me").status_code == 200

    def test_logout_revokes(self, people_server: LiveServer, team: Team) -> None:
        viewer = team.members["viewer"]
        raw = viewer.session_cookie
        assert viewer.client.post("/auth/logout").status_code == 204
        with browser(people_server) as replay:
            replay.cookies.set("avsb_session", raw)
            assert replay.get("/api/me").status_code == 401

    def test_list_and_revoke_own_sessions(self, people_server: LiveServer, team: Team) -> None:
        admin = team.members["admin"]
        other, r = _login(people_server, admin.email, admin.password)
        assert r.status_code == 200
        mine = admin.client.get("/api/me/sessions").json()["data"]
        assert len(mine) == 2
        assert [s["current"] for s in mine].count(True) == 1
        other_id = next(s["id"] for s in mine if not s["current"])
        # another member cannot see or end it
        viewer = team.members["viewer"]
        assert viewer.client.delete(f"/api/me/sessions/{other_id}").status_code == 404
        assert admin.client.delete(f"/api/me/sessions/{other_id}").status_code == 204
        assert other.get("/api/me").status_code == 401
        assert admin.client.get("/api/me").status_code == 200
        assert admin.client.delete("/api/me/sessions").status_code == 204  # everywhere
        assert admin.client.get("/api/me").status_code == 401
        other.close()


def _signed_in(server: LiveServer) -> Person:
    return join(server, new_org(server), "viewer")


class TestExpiry:
    # Wide margins: a loaded machine may take a second to answer, and a late request must not
    # be the one that crosses a limit.
    def test_idle_expiry(self, servers: ServerFactory) -> None:
        server = servers.start(session_idle_seconds=3.0, **FAST_HASH)
        try:
            person = _signed_in(server)
            for _ in range(3):  # activity keeps it alive past the idle limit
                time.sleep(1.0)
                assert person.client.get("/api/me").status_code == 200
            time.sleep(4.0)
            r = person.client.get("/api/me")
            assert r.status_code == 401
            person.client.close()
        finally:
            server.stop()

    def test_absolute_expiry(self, servers: ServerFactory) -> None:
        server = servers.start(session_max_seconds=6.0, **FAST_HASH)
        try:
            person = _signed_in(server)
            signed_in = time.monotonic()  # the session began before this moment
            assert person.client.get("/api/me").status_code == 200
            time.sleep(2.0)
            assert person.client.get("/api/me").status_code == 200
            time.sleep(max(0.0, signed_in + 6.5 - time.monotonic()))
            assert person.client.get("/api/me").status_code == 401
            person.client.close()
        finally:
            server.stop()


class TestThrottling:
    def test_per_account_then_per_ip__429_generic(self, servers: ServerFactory) -> None:
        server = servers.start(
            login_failures_per_minute=4, login_failures_per_account_per_minute=2, **FAST_HASH
        )
        try:
            person = _signed_in(server)
            person.client.close()
            codes = [_try(server, person.email, "wrong-password") for _ in range(3)]
            assert [r.status_code for r in codes] == [401, 401, 429]
            throttled = codes[2].json()["error"]
            assert throttled["code"] == "sign_in_throttled"
            assert "Retry-After" in codes[2].headers
            # the right password does not get through a throttled account either
            assert _try(server, person.email, person.password).status_code == 429
            # an unknown email answers exactly the same way
            unknown = [_try(server, "ghost@example.test", "x-password") for _ in range(3)]
            assert [r.status_code for r in unknown][:1] == [401]
            # per address: the 4 failures above used this address up
            r = _try(server, "someone-else@example.test", "x-password")
            assert r.status_code == 429
            assert r.json()["error"]["message"] == throttled["message"]
        finally:
            server.stop()

    def test_unknown_email_costs_a_password_hash(
        self, people_server: LiveServer, team: Team
    ) -> None:
        viewer = team.members["viewer"]

        def timed(email: str) -> float:
            start = time.perf_counter()
            _try(people_server, email, "wrong-password")
            return time.perf_counter() - start

        known = statistics.median(timed(viewer.email) for _ in range(5))
        unknown = statistics.median(timed("no-such@example.test") for _ in range(5))
        # Both verify one argon2 hash: the unknown email is not answered markedly faster.
        assert unknown > known * 0.5, (known, unknown)


def test_change_password__other_sessions_end(people_server: LiveServer, team: Team) -> None:
    editor = team.members["editor"]
    other, r = _login(people_server, editor.email, editor.password)
    assert r.status_code == 200
    bad = editor.client.post(
        "/api/me/password", json={"current_password": "wrong-one", "new_password": "x" * 12}
    )
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "invalid_credentials"
    short = editor.client.post(
        "/api/me/password", json={"current_password": editor.password, "new_password": "short"}
    )
    assert short.status_code == 422
    assert other.get("/api/me").status_code == 200  # a refused change ends nothing
    old_cookie = editor.session_cookie
    r = editor.client.post(
        "/api/me/password",
        json={"current_password": editor.password, "new_password": "a-new-password-1"},
    )
    assert r.status_code == 200, r.text
    use_csrf(editor.client, r)
    assert editor.session_cookie != old_cookie
    assert editor.client.get("/api/me").status_code == 200
    assert other.get("/api/me").status_code == 401
    other.close()
    assert _try(people_server, editor.email, editor.password).status_code == 401
    assert _try(people_server, editor.email, "a-new-password-1").status_code == 200
