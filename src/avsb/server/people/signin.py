"""Signing in and out: password check (throttled, one generic answer), session rows.

A sign-in always makes a new session id (no session fixation); the table keeps only its
SHA-256. A session ends when revoked, after ``session_idle_seconds`` unused, or
``session_max_seconds`` after sign-in, whichever comes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.auth.authenticator import TOKEN_SCOPE, FailureThrottle
from avsb.server.auth.passwords import Passwords
from avsb.server.auth.secrets import hash_token
from avsb.server.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token, new_session_id
from avsb.server.config import Settings
from avsb.server.errors import NotFound, RateLimited, Unauthorized
from avsb.server.kit import changes
from avsb.server.kit.ids import new_id
from avsb.server.models import User, UserSession
from avsb.server.models.base import utcnow
from avsb.server.people import users

BAD_CREDENTIALS = "The email or password is not correct."
THROTTLED = "Too many failed sign-in attempts; wait a minute and try again."


@dataclass
class People:
    """One process's sign-in machinery: password hashing and failed-sign-in throttles."""

    settings: Settings
    passwords: Passwords
    by_ip: FailureThrottle
    by_account: FailureThrottle

    @classmethod
    def from_settings(cls, settings: Settings) -> People:
        return cls(
            settings,
            Passwords(
                settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
            ),
            FailureThrottle(settings.login_failures_per_minute),
            FailureThrottle(settings.login_failures_per_account_per_minute),
        )

    def check_throttle(self, ip: str, email: str) -> None:
        """429 with one generic message when the address or the account is over its limit
        (the same for existing and unknown emails)."""
        try:
            self.by_ip.check(ip)
            self.by_account.check(users.email_key(email))
        except RateLimited as exc:
            raise RateLimited(THROTTLED, headers=exc.headers, code="sign_in_throttled") from None

    def verify(self, session: Session, ip: str, email: str, password: str) -> User:
        """The user for these credentials, else 401 with the generic message (and a failure
        counted against the address and the account)."""
        self.check_throttle(ip, email)
        user = users.by_email(session, email)
        if user is None:
            self.passwords.verify_dummy(password)  # the same time as a wrong password
        ok = user is not None and self.passwords.verify(user.password_hash, password)
        if user is None or not ok or user.disabled:
            self.by_ip.fail(ip)
            self.by_account.fail(users.email_key(email))
            raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
        return user


def start_session(
    session: Session, settings: Settings, user: User, ip: str, user_agent: str
) -> tuple[UserSession, str]:
    """A new session for ``user`` and its secret id (for the cookie; never stored)."""
    raw = new_session_id()
    now = utcnow()
    row = UserSession(
        id=new_id("ses"),
        user_id=user.id,
        session_hash=hash_token(raw),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_max_seconds),
        ip=ip,
        user_agent=user_agent[:300],
    )
    session.add(row)
    user.last_sign_in_at = now
    session.flush()
    return row, raw


def set_session_cookies(response: Response, settings: Settings, raw: str) -> None:
    """The cookies of a new session: its id (HttpOnly) and its CSRF token (read by scripts)."""
    secure = settings.secure_cookies
    max_age = int(settings.session_max_seconds)
    response.set_cookie(
        SESSION_COOKIE, raw, max_age=max_age, httponly=True, samesite="lax", secure=secure,
        path="/",
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf_token(raw), max_age=max_age, httponly=False, samesite="lax",
        secure=secure, path="/",
    )  # fmt: skip


def end_session(session: Session, raw: str) -> None:
    """Revoke the session with this secret id (nothing when unknown)."""
    row = session.scalar(select(UserSession).where(UserSession.session_hash == hash_token(raw)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        changes.bump(session, TOKEN_SCOPE)


def list_sessions(session: Session, user_id: str) -> list[UserSession]:
    now = utcnow()
    stmt = select(UserSession).where(
        UserSession.user_id == user_id,
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > now,
    )
    return list(session.scalars(stmt.order_by(UserSession.id)))


def revoke_session(session: Session, user_id: str, session_id: str) -> None:
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"No session with id {session_id!r}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        changes.bump(session, TOKEN_SCOPE)


def session_dict(row: UserSession, current_id: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at,
        "last_seen_at": row.last_seen_at,
        "expires_at": row.expires_at,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "current": row.id == current_id,
    }
