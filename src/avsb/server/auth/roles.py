"""Roles of a person in an organisation and the scopes each grants: the ONE place of the
mapping (docs/access.md shows it as a table).

A session or personal access token is checked by the same scope machinery as a service
token: its scopes are derived from the role here (a PAT's are further cut to its own).
"""

from __future__ import annotations

from collections.abc import Iterable

from avsb.server.auth.scopes import FAMILIES, grants

ROLES: tuple[str, ...] = ("viewer", "editor", "admin", "owner")

# Families an editor writes: design resources, experiment state, results, event ingestion.
EDITOR_WRITES: tuple[str, ...] = (
    "projects",
    "experiments",
    "flags",
    "audiences",
    "segments",
    "metrics",
    "exclusion_groups",
    "results",
    "events",
    "templates",
)
# Families an admin writes on top: access (tokens, SDK keys, members), webhooks, import.
ADMIN_WRITES: tuple[str, ...] = ("tokens", "webhooks", "members", "workspace")

_READ_ALL = frozenset(f"{f}:read" for f in FAMILIES)
_EDITOR = _READ_ALL | {f"{f}:write" for f in EDITOR_WRITES}
_ADMIN = _EDITOR | {f"{f}:write" for f in ADMIN_WRITES}

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": _READ_ALL,
    "editor": _EDITOR,
    "admin": _ADMIN,
    # Owners hold every scope an admin does; what only they may do (manage owners, delete the
    # organisation) is checked on the role itself (``is_owner``).
    "owner": _ADMIN,
}


def scopes_for(role: str) -> frozenset[str]:
    """The scopes a role grants (none for an unknown role)."""
    return ROLE_SCOPES.get(role, frozenset())


def rank(role: str) -> int:
    """viewer < editor < admin < owner."""
    return ROLES.index(role) if role in ROLES else -1


def intersect(granted: Iterable[str], role: str) -> frozenset[str]:
    """The concrete scopes both ``granted`` (a PAT's own, may hold ``*`` or imply reads) and
    ``role`` allow: what a personal access token may do right now."""
    held = frozenset(granted)
    role_scopes = scopes_for(role)
    return frozenset(
        f"{f}:{a}"
        for f in FAMILIES
        for a in ("read", "write")
        if grants(held, f"{f}:{a}") and grants(role_scopes, f"{f}:{a}")
    )
