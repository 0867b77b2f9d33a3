"""Single sign-on against a real OpenID Connect provider (``oidc-provider`` under Node on
loopback): the authorisation-code flow with PKCE, state and nonce through AvsB's
``/auth/oidc/login`` and ``/auth/oidc/callback``, the provider's own sign-in pages walked with
httpx, and the refusals (tampered, replayed or foreign state, unverified e-mail, disallowed
domain, provider down), and the organisation AVSB_OIDC_ORG makes first sign-ins join (people
signed in for real), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.models import User, UserIdentity
from avsb.server.people.sso_sign_in import Client
from avsb.server.sso.errors import ProviderError, SignInRefused
from avsb.server.sso.oidc import OidcClient, OidcConfig, Pending
from avsb.server.sso.service import STATE_COOKIE, sso_of
from tests.integration.people.conftest import FAST_HASH, new_org
from tests.support.oidc import OidcProvider, oidc_provider, sign_in_at_provider
from tests.support.servers import LiveServer, ServerFactory, free_port


@dataclass
class RecordingTarget:
    """A ``SignInTarget`` that records whom it signed in, in place of the people package's
    (tests/integration/people/test_people_sso.py signs people in for real)."""

    calls: list[dict[str, str]] = field(default_factory=list)

    def sign_in_sso(
        self, email: str, name: str, issuer: str, subject: str, default_role: str, client: Client
    ) -> str:
        self.calls.append(
            {
                "email": email,
                "name": name,
                "issuer": issuer,
                "subject": subject,
                "default_role": default_role,
            }
        )
        return f"session-{len(self.calls)}"


@dataclass
class Sso:
    server: LiveServer
    provider: OidcProvider


def _oidc_settings(provider: OidcProvider, public_url: str) -> dict[str, Any]:
    return {
        "oidc_issuer": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": SecretStr(provider.client_secret),
        "oidc_allowed_domains": "example.com, Example.org",
        "public_url": public_url,
    }


@pytest.fixture(scope="module")
def sso(servers: ServerFactory) -> Iterator[Sso]:
    """AvsB with SSO configured, and the provider whose one client redirects back to it."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    with oidc_provider(public_url + "/auth/oidc/callback") as provider:
        server = servers.start(port, **_oidc_settings(provider, public_url))
        yield Sso(server, provider)


@pytest.fixture
def target(sso: Sso) -> Iterator[RecordingTarget]:
    recording = RecordingTarget()
    service = sso_of(sso.server.app)
    real, service.target = service.target, recording
    yield recording
    service.target = real


@pytest.fixture
def browser(sso: Sso) -> Iterator[httpx.Client]:
    """One cookie jar for AvsB and the provider, redirects not followed."""
    with httpx.Client(base_url=sso.server.url, follow_redirects=False, timeout=30) as client:
        yield client


def _start(browser: httpx.Client) -> tuple[str, dict[str, list[str]]]:
    started = browser.get("/auth/oidc/login")
    assert started.status_code == 302, started.text
    location = started.headers["location"]
    return location, parse_qs(urlsplit(location).query)


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert response.headers["X-Error-Code"] == body["code"]
    assert body["request_id"]
    return body


def test_login__redirect_carries_code_flow_pkce_state_nonce(
    sso: Sso, browser: httpx.Client
) -> None:
    location, query = _start(browser)
    assert location.startswith(sso.provider.issuer + "/auth?")
    single = {k: v[0] for k, v in query.items()}
    assert single["response_type"] == "code"
    assert single["client_id"] == sso.provider.client_id
    assert single["redirect_uri"] == sso.server.url + "/auth/oidc/callback"
    assert set(single["scope"].split()) == {"openid", "email", "profile"}
    assert single["code_challenge_method"] == "S256"
    assert len(base64.urlsafe_b64decode(single["code_challenge"] + "=")) == 32  # SHA-256
    assert len(single["state"]) >= 32
    assert len(single["nonce"]) >= 32
    assert browser.cookies.get(STATE_COOKIE, path="/auth/oidc") == single["state"]
    cookie = next(
        v for k, v in browser.get("/auth/oidc/login").headers.multi_items() if k == "set-cookie"
    )
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "path=/auth/oidc" in cookie.lower()
    # Each sign-in has its own secrets.
    _, again = _start(browser)
    for name in ("state", "nonce", "code_challenge"):
        assert again[name] != query[name]


def test_full_flow__verified_identity_signs_in_once(
    sso: Sso, browser: httpx.Client, target: RecordingTarget
) -> None:
    location, query = _start(browser)
    callback = sign_in_at_provider(browser, location, "ada@example.com")
    assert callback.startswith(sso.server.url + "/auth/oidc/callback?")
    back = parse_qs(urlsplit(callback).query)
    assert back["state"] == query["state"]
    assert back["code"]

    signed_in = browser.get(callback)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/"
    assert signed_in.cookies["avsb_session"] == "session-1"
    assert target.calls == [
        {
            "email": "ada@example.com",
            "name": "Test ada",
            "issuer": sso.provider.issuer,
            "subject": "ada@example.com",
            "default_role": "viewer",
        }
    ]

    # The same callback again, state cookie and all: the sign-in was used up.
    with httpx.Client(base_url=sso.server.url, timeout=30) as replayer:
        replayer.cookies.set(STATE_COOKIE, query["state"][0], path="/auth/oidc")
        replayed = replayer.get(callback)
    assert replayed.status_code == 400, replayed.text
    assert _error(replayed)["code"] == "sso_invalid_state"
    assert len(target.calls) == 1


def test_tampered_state__refused_and_the_real_one_still_works(
    sso: Sso, browser: httpx.Client, target: RecordingTarget
) -> None:
    location, query = _start(browser)
    callback = sign_in_at_provider(browser, location, "ada@example.com")
    state = query["state"][0]
    tampered = callback.replace(f"state={state}", f"state={state[:-2]}xy")
    assert tampered != callback
    refused = browser.get(tampered)
    assert refused.status_code == 400, refused.text
    assert _error(refused)["code"] == "sso_invalid_state"

    # A state forged together with its cookie is unknown to the server.
    with httpx.Client(base_url=sso.server.url, timeout=30) as forger:
        forger.cookies.set(STATE_COOKIE, state[:-2] + "xy", path="/auth/oidc")
        forged = forger.get(tampered)
    assert forged.status_code == 400
    assert _error(forged)["code"] == "sso_invalid_state"

    # No state cookie at all (the callback opened in another browser: login CSRF).
    with httpx.Client(base_url=sso.server.url, timeout=30) as stranger:
        foreign = stranger.get(callback)
    assert foreign.status_code == 400
    assert _error(foreign)["code"] == "sso_invalid_state"
    assert target.calls == []

    # None of these used the sign-in up.
    assert browser.get(callback).status_code == 303
    assert [c["email"] for c in target.calls] == ["ada@example.com"]


@pytest.mark.parametrize(
    ("login", "code"),
    [
        ("eve@evil.test", "sso_domain_not_allowed"),
        ("eve@notexample.com", "sso_domain_not_allowed"),
        ("unverified@example.com", "sso_email_unverified"),
    ],
)
def test_identity_refused__403(
    browser: httpx.Client, target: RecordingTarget, login: str, code: str
) -> None:
    location, _ = _start(browser)
    callback = sign_in_at_provider(browser, location, login)
    refused = browser.get(callback)
    assert refused.status_code == 403, refused.text
    assert _error(refused)["code"] == code
    assert target.calls == []


def test_provider_error_answer__400(browser: httpx.Client) -> None:
    _, query = _start(browser)
    state = query["state"][0]
    denied = browser.get("/auth/oidc/callback", params={"error": "access_denied", "state": state})
    assert denied.status_code == 400, denied.text
    error = _error(denied)
    assert error["code"] == "sso_provider_denied"
    assert error["details"] == {"provider_error": "access_denied"}
    # Answered once: the state is gone.
    again = browser.get("/auth/oidc/callback", params={"code": "x", "state": state})
    assert _error(again)["code"] == "sso_invalid_state"


def test_browser_refusals__back_to_the_sign_in_page_with_the_message(
    browser: httpx.Client, target: RecordingTarget
) -> None:
    """A browser is not shown a JSON error: it lands on the sign-in page, which says why."""
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    _, query = _start(browser)
    denied = browser.get(
        "/auth/oidc/callback",
        params={"error": "Call +1 555 0100 to unlock", "state": query["state"][0]},
        headers=html,
    )
    assert denied.status_code == 303, denied.text
    assert denied.headers["location"] == "/login"
    page = browser.get("/login", headers=html)
    assert page.status_code == 200
    assert "The sign-in provider did not sign you in." in page.text
    assert "555" not in page.text  # the query string's words are never shown
    assert "avsb_flash" in page.headers.get("set-cookie", "")  # shown once, then cleared
    assert "did not sign you in" not in browser.get("/login", headers=html).text

    location, _ = _start(browser)
    callback = sign_in_at_provider(browser, location, "eve@evil.test")
    refused = browser.get(callback, headers=html)
    assert refused.status_code == 303
    assert "E-mail addresses of evil.test may not sign in here." in browser.get("/login").text
    assert target.calls == []


def test_callback_on_another_server__works_once_across_servers(
    sso: Sso, servers: ServerFactory, browser: httpx.Client, target: RecordingTarget
) -> None:
    """The pending sign-in lives in the database: a second server (its own process state,
    same database) finishes a sign-in the first started, and neither can replay it."""
    other = servers.start(**_oidc_settings(sso.provider, sso.server.url))
    sso_of(other.app).target = target
    location, query = _start(browser)
    callback = sign_in_at_provider(browser, location, "ada@example.com")
    path = callback.removeprefix(sso.server.url)
    state = query["state"][0]
    with httpx.Client(base_url=other.url, timeout=30, follow_redirects=False) as elsewhere:
        elsewhere.cookies.set(STATE_COOKIE, state, path="/auth/oidc")
        assert elsewhere.get(path).status_code == 303
        assert _error(elsewhere.get(path))["code"] == "sso_invalid_state"
    assert _error(browser.get(callback))["code"] == "sso_invalid_state"
    assert [c["email"] for c in target.calls] == ["ada@example.com"]


@contextlib.contextmanager
def _sso_server(servers: ServerFactory, **overrides: Any) -> Iterator[Sso]:
    """A server of its own (same database) with SSO and ``overrides``, its own provider, and
    the people package signing people in for real."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    with oidc_provider(public_url + "/auth/oidc/callback") as provider:
        settings = {**_oidc_settings(provider, public_url), **FAST_HASH, **overrides}
        server = servers.start(port, **settings)
        try:
            yield Sso(server, provider)
        finally:
            server.stop()


def _sso_sign_in(sso: Sso, login: str) -> tuple[httpx.Response, httpx.Client]:
    client = httpx.Client(base_url=sso.server.url, follow_redirects=False, timeout=30)
    location, _ = _start(client)
    return client.get(sign_in_at_provider(client, location, login)), client


def _users_and_identities(database: Database, email: str) -> tuple[int, int]:
    """How many users have ``email``, and identities its subject (the provider's sub is the
    login)."""
    with database.transaction() as session:
        users = session.scalar(select(func.count()).select_from(User).where(User.email == email))
        identities = session.scalar(
            select(func.count()).select_from(UserIdentity).where(UserIdentity.subject == email)
        )
    return users or 0, identities or 0


def test_oidc_org__first_sign_in_joins_that_organisation_only(
    servers: ServerFactory, live_server: LiveServer
) -> None:
    """AVSB_OIDC_ORG names a newer organisation than the bootstrapped (oldest) one: a first
    sign-in makes the person a member of it alone, with AVSB_OIDC_DEFAULT_ROLE."""
    chosen = new_org(live_server)  # same database, newer than the default organisation
    assert chosen != live_server.default_org
    with _sso_server(servers, oidc_org=chosen, oidc_default_role="editor") as sso:
        email = f"joiner-{secrets.token_hex(4)}@example.com"
        answer, client = _sso_sign_in(sso, email)
        with contextlib.closing(client):
            assert answer.status_code == 303, answer.text
            client.headers["X-CSRF-Token"] = client.cookies["avsb_csrf"]
            me = client.get("/api/me").json()["data"]
            assert me["user"]["email"] == email
            assert (me["org_id"], me["role"]) == (chosen, "editor")
            orgs = client.get("/api/orgs")
            assert orgs.status_code == 200, orgs.text
            assert [o["id"] for o in orgs.json()["data"]] == [chosen]
        with sso.server.admin() as admin:
            members = admin.get(f"/api/orgs/{chosen}/members").json()["data"]
            assert [(m["email"], m["role"]) for m in members if m["email"] == email] == [
                (email, "editor")
            ]
            oldest = admin.get(f"/api/orgs/{sso.server.default_org}/members").json()["data"]
            assert email not in {m["email"] for m in oldest}
            events = admin.get(
                f"/api/orgs/{chosen}/audit", params={"resource_id": me["user"]["id"]}
            ).json()["data"]
            assert sorted(e["action"] for e in events) == [
                "member.added",
                "user.created",
                "user.signed_in",
            ]


def test_oidc_org__naming_no_organisation_refuses_first_sign_in(
    servers: ServerFactory, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    missing = "org_" + "0" * 26
    with (
        caplog.at_level(logging.WARNING, logger="avsb.server.people.sso_sign_in"),
        _sso_server(servers, oidc_org=missing) as sso,
    ):
        assert any(
            "AVSB_OIDC_ORG" in r.getMessage() and missing in r.getMessage() for r in caplog.records
        ), "a warning at start"
        email = f"stranger-{secrets.token_hex(4)}@example.com"
        answer, client = _sso_sign_in(sso, email)
        with contextlib.closing(client):
            assert answer.status_code == 409, answer.text
            error = _error(answer)
            assert error["code"] == "sso_org_not_found"
            assert "AVSB_OIDC_ORG" in error["message"]
            assert "avsb_session" not in client.cookies
            assert client.get("/api/me").status_code == 401
        assert _users_and_identities(database, email) == (0, 0)

        # People who already have an account still sign in: only creating one needs the
        # organisation.
        with sso.server.admin() as admin:
            known = f"known-{secrets.token_hex(4)}@example.com"
            invited = admin.post(
                f"/api/orgs/{sso.server.default_org}/invitations",
                json={"email": known, "role": "viewer"},
            )
            assert invited.status_code == 201, invited.text
        token = invited.json()["data"]["url"].rsplit("/", 1)[-1]
        with httpx.Client(base_url=sso.server.url, timeout=30) as person:
            accepted = person.post(
                f"/auth/invitations/{token}/accept",
                json={"name": "Known", "password": "pw-" + secrets.token_urlsafe(12)},
            )
            assert accepted.status_code == 200, accepted.text
        answer, client = _sso_sign_in(sso, known)
        with contextlib.closing(client):
            assert answer.status_code == 303, answer.text
            assert client.get("/api/me").json()["data"]["user"]["email"] == known


def test_oidc_org__must_look_like_an_organisation_id() -> None:
    with pytest.raises(ValidationError, match="oidc_org"):
        Settings(oidc_org="Acme Inc")
    assert Settings(oidc_org="org_01jabc").oidc_org == "org_01jabc"
    assert Settings().oidc_org is None


def test_forged_code__400_code_rejected(browser: httpx.Client) -> None:
    _, query = _start(browser)
    forged = browser.get(
        "/auth/oidc/callback", params={"code": "not-a-real-code", "state": query["state"][0]}
    )
    assert forged.status_code == 400, forged.text
    assert _error(forged)["code"] == "sso_code_rejected"


def _login_with_issuer(
    servers: ServerFactory, issuer: str, tries: int = 1, **limits: Any
) -> list[httpx.Response]:
    port = free_port()
    server = servers.start(
        port=port,
        **limits,
        oidc_issuer=issuer,
        oidc_client_id="c",
        oidc_client_secret=SecretStr("s"),
        oidc_allowed_domains="example.com",
        public_url=f"http://127.0.0.1:{port}",
    )
    with server.client() as client:
        return [client.get("/auth/oidc/login", follow_redirects=False) for _ in range(tries)]


def test_provider_down__503(servers: ServerFactory) -> None:
    (down,) = _login_with_issuer(servers, f"http://127.0.0.1:{free_port()}")  # none listens
    assert down.status_code == 503, down.text
    assert _error(down)["code"] == "sso_provider_unavailable"
    assert int(down.headers["Retry-After"]) >= 1


def test_not_a_provider__502(servers: ServerFactory, live_server: LiveServer) -> None:
    """An issuer that serves no discovery document (AvsB itself: 404 there)."""
    (bad,) = _login_with_issuer(servers, live_server.url)
    assert bad.status_code == 502, bad.text
    assert _error(bad)["code"] == "sso_provider_error"


def test_sign_in_attempts__rate_limited_per_address(servers: ServerFactory) -> None:
    limits = {"rate_limit_per_minute": 1.0, "rate_limit_burst": 2}
    answers = _login_with_issuer(servers, f"http://127.0.0.1:{free_port()}", 3, **limits)
    assert [a.status_code for a in answers] == [503, 503, 429]
    assert _error(answers[2])["code"] == "rate_limited"
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_not_configured__404(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for path in ("/auth/oidc/login", "/auth/oidc/callback?code=a&state=b"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 404, answer.text
            assert _error(answer)["code"] == "sso_not_configured"


def test_partial_configuration__refused_at_start() -> None:
    with pytest.raises(ValidationError, match="AVSB_OIDC_CLIENT_SECRET"):
        Settings(oidc_issuer="https://id.example.com", oidc_client_id="c")
    with pytest.raises(ValidationError, match="https"):
        Settings(
            oidc_issuer="http://id.example.com",
            oidc_client_id="c",
            oidc_client_secret=SecretStr("s"),
            oidc_allowed_domains="example.com",
            public_url="https://avsb.example.com",
        )


# --- the client layer, called directly ------------------------------------------------------


def _client(sso: Sso, client_id: str | None = None) -> OidcClient:
    return OidcClient(
        OidcConfig(
            issuer=sso.provider.issuer,
            client_id=client_id or sso.provider.client_id,
            client_secret=sso.provider.client_secret,
            redirect_uri=sso.server.url + "/auth/oidc/callback",
            allowed_domains=frozenset({"example.com"}),
            default_role="viewer",
        )
    )


def _tokens(sso: Sso, client: OidcClient, login: str) -> tuple[dict[str, Any], Pending, str]:
    """The token endpoint's answer after a real sign-in, its pending secrets and the code."""
    url, pending = client.authorization_request()
    with httpx.Client(follow_redirects=False, timeout=30) as person:
        callback = sign_in_at_provider(person, url, login)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    return client.exchange(code, pending), pending, code


def _segments(token: str) -> list[str]:
    return token.split(".")


def test_client__id_token_verified_and_every_check_enforced(sso: Sso) -> None:
    client = _client(sso)
    answer, pending, code = _tokens(sso, client, "ada@example.com")
    id_token = answer["id_token"]
    claims = client.verify_id_token(id_token, pending.nonce, answer["access_token"])
    assert claims["iss"] == sso.provider.issuer
    assert claims["aud"] == sso.provider.client_id
    assert claims["nonce"] == pending.nonce
    assert (claims["email"], claims["email_verified"]) == ("ada@example.com", True)
    identity = client.identity(claims)
    assert (identity.email, identity.subject) == ("ada@example.com", "ada@example.com")

    def refused(token: str, nonce: str = pending.nonce, verifier: OidcClient = client) -> str:
        with pytest.raises(ProviderError) as caught:
            verifier.verify_id_token(token, nonce)
        return caught.value.code

    assert refused(id_token, nonce="another-nonce") == "sso_invalid_id_token"
    assert refused(id_token, verifier=_client(sso, "someone-else")) == "sso_invalid_id_token"
    header, payload, signature = _segments(id_token)
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = base64.urlsafe_b64encode(
        json.dumps({**body, "email": "root@example.com"}).encode()
    ).rstrip(b"=")
    assert refused(f"{header}.{changed.decode()}.{signature}") == "sso_invalid_id_token"
    # Signed by another key under the provider's key id.
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    impostor = RSAKey.generate_key(2048, parameters={"kid": kid})
    forged = jwt.encode({"alg": "RS256", "kid": kid}, body, impostor)
    assert refused(forged) == "sso_invalid_id_token"
    # An unsigned token is never accepted.
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    assert refused(f"{unsigned}.{payload}.") == "sso_invalid_id_token"

    # The code was spent by the exchange: the provider refuses it a second time.
    with pytest.raises(SignInRefused) as again:
        client.exchange(code, pending)
    assert again.value.code == "sso_code_rejected"

    # PKCE: a code exchanged with another verifier is refused.
    url, fresh = client.authorization_request()
    with httpx.Client(follow_redirects=False, timeout=30) as person:
        callback = sign_in_at_provider(person, url, "ada@example.com")
    fresh_code = parse_qs(urlsplit(callback).query)["code"][0]
    with pytest.raises(SignInRefused) as wrong_verifier:
        client.exchange(fresh_code, Pending(fresh.state, fresh.nonce, "x" * 64))
    assert wrong_verifier.value.code == "sso_code_rejected"
