"""Single sign-on: start a sign-in, finish it at the callback, and hand the verified identity
to what creates the person's session (a ``SignInTarget``: the people package's
``PeopleSignIn`` unless a test swaps it).

The state, nonce and PKCE verifier of a sign-in under way are kept in the ``sso_logins`` table,
found by the SHA-256 of the state and deleted by the callback that uses them, so a callback
works once, on any server process. The state is also set in a short-lived cookie scoped to
``/auth/oidc``; a callback whose state is not the browser's own is refused (login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Protocol

from fastapi import FastAPI, Request
from sqlalchemy import CursorResult, delete
from starlette.responses import RedirectResponse, Response

from avsb.server.auth.sessions import SESSION_COOKIE
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.errors import NotFound
from avsb.server.models import SsoLogin
from avsb.server.models.base import utcnow
from avsb.server.people.signin import set_session_cookies
from avsb.server.people.sso_sign_in import Client, PeopleSignIn
from avsb.server.sso.errors import SignInRefused
from avsb.server.sso.oidc import Identity, OidcClient, OidcConfig, Pending

STATE_COOKIE = "avsb_oidc_state"
COOKIE_PATH = "/auth/oidc"
PENDING_SECONDS = 600  # a sign-in must come back from the provider within 10 minutes


class SignInTarget(Protocol):
    """What turns a verified SSO identity into a signed-in person (the users service)."""

    def sign_in_sso(
        self, email: str, name: str, issuer: str, subject: str, default_role: str, client: Client
    ) -> str:
        """Find or create the person (first sign-in: ``default_role``); the secret id of their
        new session (the value of its cookie)."""
        ...


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def save_pending(db: Database, pending: Pending) -> None:
    """Keep ``pending`` for one callback (and drop the sign-ins that never came back)."""
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            delete(SsoLogin)
            .where(SsoLogin.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        session.add(
            SsoLogin(
                state_hash=_digest(pending.state),
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
                expires_at=now + timedelta(seconds=PENDING_SECONDS),
            )
        )


def take_pending(db: Database, state: str) -> Pending | None:
    """The pending sign-in of ``state``, removed; None when unknown, expired or already taken
    (by this or another process: only the one whose DELETE removed the row gets it)."""
    key = _digest(state)
    with db.transaction() as session:
        row = session.get(SsoLogin, key)
        if row is None:
            return None
        found = Pending(state=state, nonce=row.nonce, code_verifier=row.code_verifier)
        fresh = row.expires_at > utcnow()
        result = session.execute(
            delete(SsoLogin)
            .where(SsoLogin.state_hash == key)
            .execution_options(synchronize_session=False)
        )
        taken = isinstance(result, CursorResult) and result.rowcount == 1
    return found if taken and fresh else None


class SsoService:
    def __init__(
        self, config: OidcConfig, db: Database, settings: Settings, target: SignInTarget
    ) -> None:
        self.client = OidcClient(config)
        self.config = config
        self.target = target
        self._db = db
        self._settings = settings
        self._secure = settings.secure_cookies

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> SsoService | None:
        """The service, or None when single sign-on is not configured."""
        config = OidcConfig.from_settings(settings)
        if config is None:
            return None
        target = PeopleSignIn(db, settings)
        target.check_org()  # a warning at start when AVSB_OIDC_ORG names no organisation
        return cls(config, db, settings, target)

    def start_sign_in(self) -> Response:
        """302 to the provider's authorisation endpoint; the state cookie set."""
        url, pending = self.client.authorization_request()
        save_pending(self._db, pending)
        response = RedirectResponse(url, status_code=302)
        response.set_cookie(
            STATE_COOKIE,
            pending.state,
            max_age=PENDING_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )
        return response

    def verified_identity(
        self,
        *,
        state: str | None,
        cookie_state: str | None,
        code: str | None,
        error: str | None,
        issuer: str | None,
    ) -> Identity:
        """The identity of a callback: its state must be this browser's and unused, then the
        code is exchanged and the ID token verified (``OidcClient.finish``)."""
        if not state or not cookie_state or not hmac.compare_digest(state, cookie_state):
            raise SignInRefused(
                "This sign-in was not started from this browser; start again.",
                code="sso_invalid_state",
            )
        pending = take_pending(self._db, state)
        if pending is None:
            raise SignInRefused(
                "This sign-in is unknown, expired or already used; start again.",
                code="sso_invalid_state",
            )
        if error is not None:
            raise SignInRefused(
                "The sign-in provider did not sign you in.",
                code="sso_provider_denied",
                details={"provider_error": error[:100]},
            )
        if issuer is not None and issuer != self.config.issuer:  # RFC 9207 mix-up defence
            raise SignInRefused(
                "The answer came from another sign-in provider.", code="sso_issuer_mismatch"
            )
        if not code:
            raise SignInRefused("The sign-in provider sent no code.", code="sso_code_missing")
        return self.client.finish(code, pending)

    def complete_sign_in(self, identity: Identity, request: Request) -> Response:
        """The person's session from the ``SignInTarget``: 303 to ``/`` with the session and
        CSRF cookies of a password sign-in."""
        raw = self.target.sign_in_sso(
            email=identity.email,
            name=identity.name,
            issuer=identity.issuer,
            subject=identity.subject,
            default_role=self.config.default_role,
            client=Client(
                ip=request.client.host if request.client else "unknown",
                user_agent=request.headers.get("user-agent", ""),
                request_id=getattr(request.state, "request_id", None),
                previous_session=request.cookies.get(SESSION_COOKIE),
            ),
        )
        response = RedirectResponse("/", status_code=303)
        set_session_cookies(response, self._settings, raw)
        response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
        return response


def sso_of(app: FastAPI) -> SsoService:
    """The single sign-on of ``app``'s runtime; 404 ``sso_not_configured`` when SSO is off."""
    service: SsoService | None = app.state.runtime.sso
    if service is None:
        raise NotFound(
            "Single sign-on is not configured on this server.", code="sso_not_configured"
        )
    return service
