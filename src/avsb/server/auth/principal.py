"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass

from avsb.server.kit.context import Actor


@dataclass(frozen=True)
class Principal:
    token_id: str
    org_id: str
    kind: str  # "service", "sdk", "admin"
    name: str
    scopes: frozenset[str]
    is_admin: bool
    project_id: str | None

    @property
    def actor(self) -> Actor:
        return Actor(type="token", id=self.token_id, name=self.name)

    def can_access_org(self, org_id: str) -> bool:
        """Admin tokens manage every organisation; all others only their own."""
        return self.is_admin or self.org_id == org_id
