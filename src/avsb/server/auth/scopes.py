"""Scopes: ``<family>:read`` / ``<family>:write`` (write implies read) or ``*``."""

from __future__ import annotations

from collections.abc import Iterable

FAMILIES: tuple[str, ...] = (
    "projects",
    "experiments",
    "flags",
    "audiences",
    "segments",
    "metrics",
    "exclusion_groups",
    "results",
    "events",
    "tokens",
    "audit",
    "webhooks",
    "templates",
    "workspace",
    "members",
)
ALL_SCOPES: tuple[str, ...] = ("*", *(f"{f}:{a}" for f in FAMILIES for a in ("read", "write")))


def is_valid(scope: str) -> bool:
    """True for ``*`` and for ``<known family>:read|write``."""
    return scope in ALL_SCOPES


def family_of(scope: str) -> str:
    """The family a required scope belongs to (its rate-limit bucket)."""
    return scope.split(":", 1)[0]


def grants(granted: Iterable[str], required: str) -> bool:
    """True when ``granted`` allows ``required``."""
    if not isinstance(granted, (set, frozenset)):
        granted = set(granted)
    if "*" in granted or required in granted:
        return True
    family, _, access = required.partition(":")
    return access == "read" and f"{family}:write" in granted
