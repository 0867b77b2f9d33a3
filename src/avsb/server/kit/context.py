"""Who did something, from where: passed to every service that changes state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["api", "dashboard", "cli", "system", "slack"]


@dataclass(frozen=True)
class Actor:
    type: str  # "token", "user" or "system"
    id: str | None
    name: str  # a person's email
    token_id: str | None = None  # a person acting through a personal access token


@dataclass(frozen=True)
class ChangeContext:
    """The audit facts of one state change: actor, source, client IP and request id."""

    org_id: str
    actor: Actor
    source: Source = "api"
    ip: str | None = None
    request_id: str | None = None


SYSTEM_ACTOR = Actor(type="system", id=None, name="system")


def system_context(org_id: str, source: Source = "system") -> ChangeContext:
    """A context for changes made by the server itself or the CLI."""
    return ChangeContext(org_id=org_id, actor=SYSTEM_ACTOR, source=source)
