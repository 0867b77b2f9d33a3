"""Browser origins as CORS compares them: parsed, validated and normalised; stdlib only (the
settings and the SDK-key schemas use it too)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

WILDCARD = "*"
MAX_ORIGINS = 50


def normalise_origin(raw: str) -> str:
    """The canonical form of an origin (`scheme://host[:port]`, lower case, default port
    dropped) or `*`; raises ValueError for anything else (a path, a query, credentials)."""
    text = raw.strip()
    if text == WILDCARD:
        return WILDCARD
    if not text or len(text) > 300 or not text.isascii() or any(c.isspace() for c in text):
        raise ValueError(f"{raw!r} is not an origin (scheme://host[:port])")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{raw!r} has an invalid port") from None
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{raw!r} is not an http(s) origin (scheme://host[:port])")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path:
        raise ValueError(f"{raw!r} is not an origin: no path, query, fragment or user info")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def clean_origins(raw: Iterable[str]) -> list[str]:
    """Normalised origins, sorted, once each; ValueError naming the first bad one. `*` must
    stand alone."""
    origins = sorted({normalise_origin(o) for o in raw})
    if WILDCARD in origins and len(origins) > 1:
        raise ValueError("'*' allows every origin and must be the only entry")
    if len(origins) > MAX_ORIGINS:
        raise ValueError(f"at most {MAX_ORIGINS} origins")
    return origins


def parse_setting(text: str) -> frozenset[str]:
    """`AVSB_CORS_ORIGINS`: comma-separated origins (or `*`); raises ValueError."""
    return frozenset(clean_origins(o for o in text.split(",") if o.strip()))
