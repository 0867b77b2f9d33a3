"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass, replace

from avsb.server.auth.roles import intersect, scopes_for
from avsb.server.kit.context import Actor, Source


@dataclass(frozen=True)
class Principal:
    token_id: str  # the credential: token id, PAT id, or the session's row id
    org_id: str
    kind: str  # "service", "sdk", "admin", "user" (a session) or "pat"
    name: str
    scopes: frozenset[str]
    is_admin: bool
    project_id: str | None
    # People (sessions and personal access tokens): who, and their role in each organisation.
    user_id: str | None = None
    email: str | None = None
    role: str | None = None  # the role in ``org_id``
    memberships: tuple[tuple[str, str], ...] = ()  # (org id, role), sorted
    pat_scopes: frozenset[str] | None = None  # a PAT's own scopes, cut to the role's
    source: Source = "api"

    @property
    def actor(self) -> Actor:
        if self.user_id is not None:
            token = self.token_id if self.kind == "pat" else None
            return Actor(type="user", id=self.user_id, name=self.email or "", token_id=token)
        return Actor(type="token", id=self.token_id, name=self.name)

    def can_access_org(self, org_id: str) -> bool:
        """Admin tokens manage every organisation; people their organisations; others their
        own."""
        if self.user_id is not None:
            return any(org == org_id for org, _ in self.memberships)
        return self.is_admin or self.org_id == org_id

    def in_org(self, org_id: str) -> Principal | None:
        """This caller acting in ``org_id`` (a person's scopes follow their role there), or
        None when it has no access to it."""
        if not self.can_access_org(org_id):
            return None
        if self.user_id is None or org_id == self.org_id:
            return self
        role = dict(self.memberships)[org_id]
        return replace(self, org_id=org_id, role=role, scopes=person_scopes(role, self.pat_scopes))


def person_scopes(role: str, pat_scopes: frozenset[str] | None) -> frozenset[str]:
    """A person's scopes under ``role``: the role's, cut to a PAT's own when there is one."""
    return scopes_for(role) if pat_scopes is None else intersect(pat_scopes, role)
