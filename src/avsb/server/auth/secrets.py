"""Token secrets: generated once, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

KIND_PREFIX = {"service": "avsb_svc_", "sdk": "avsb_sdk_", "admin": "avsb_adm_", "pat": "avsb_pat_"}


def generate(kind: str) -> str:
    """A new secret token string of the given kind (43 random URL-safe characters)."""
    return KIND_PREFIX[kind] + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hex SHA-256 of the token: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """The first characters of a token, safe to show in lists (``avsb_svc_Ab3d``)."""
    kind_prefix = next((p for p in KIND_PREFIX.values() if token.startswith(p)), "")
    return token[: len(kind_prefix) + 4]
