"""Organisations: the tenancy boundary. Every other resource belongs to exactly one."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from avsb.server.auth.principal import Principal
from avsb.server.errors import NotFound
from avsb.server.kit import audit
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Organization, User


def visible_orgs(principal: Principal) -> Select[Organization]:
    """The organisations a token may see: all for an admin token, else its own."""
    stmt = select(Organization)
    if principal.user_id is not None:  # a person: the organisations they are a member of
        stmt = stmt.where(Organization.id.in_([org for org, _ in principal.memberships]))
    elif not principal.is_admin:
        stmt = stmt.where(Organization.id == principal.org_id)
    return stmt


def person(session: Session, principal: Principal) -> dict[str, str] | None:
    """The person behind a session or personal access token: id, email, name."""
    if principal.user_id is None:
        return None
    user = session.get(User, principal.user_id)
    name = user.name if user is not None else ""
    return {"id": principal.user_id, "email": principal.email or "", "name": name}


def get(session: Session, org_id: str) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"No organisation with id {org_id!r}.")
    return org


def create(session: Session, ctx: ChangeContext, name: str) -> Organization:
    """A new organisation; the audit event is filed under the new organisation."""
    org = Organization(id=new_id("org"), name=name)
    session.add(org)
    session.flush()
    ctx = ChangeContext(org.id, ctx.actor, ctx.source, ctx.ip, ctx.request_id)
    audit.record(
        session,
        ctx,
        "organization.created",
        ("organization", org.id),
        {"name": {"from": None, "to": name}},
    )
    return org
