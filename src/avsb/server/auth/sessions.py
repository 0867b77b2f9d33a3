"""Sign-in session secrets: the cookie names, the random session id and its CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_COOKIE = "avsb_session"
CSRF_COOKIE = "avsb_csrf"


def new_session_id() -> str:
    """A fresh opaque session id (256 random bits); only its SHA-256 is stored."""
    return secrets.token_urlsafe(32)


def csrf_token(session_id: str) -> str:
    """The CSRF token bound to a session: only the holder of the (HttpOnly) session id can
    compute it, and it reveals nothing of the session id."""
    return hmac.new(session_id.encode(), b"avsb-csrf", hashlib.sha256).hexdigest()
