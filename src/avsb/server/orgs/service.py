"""Organisations: the tenancy boundary. Every other resource belongs to exactly one."""

from __future__ import annotations

import logging

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from avsb.server.auth.authenticator import TOKEN_SCOPE
from avsb.server.auth.principal import Principal
from avsb.server.auth.roles import ROLE_SCOPES
from avsb.server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from avsb.server.kit import audit, changes
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import ApiToken, Organization, Project, User, Webhook
from avsb.server.projects import repository as project_repository
from avsb.server.projects import service as project_service
from avsb.server.tokens import service as token_service
from avsb.server.webhooks import service as webhook_service

log = logging.getLogger(__name__)


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


def check_owner(principal: Principal) -> None:
    """Only an owner of the organisation (or the admin token) deletes it; a personal access
    token must also carry every scope of the owner role.

    403 ``owner_required`` otherwise."""
    if principal.is_admin:
        return
    if principal.role != "owner":
        raise Forbidden("Only an owner may delete the organisation.", code="owner_required")
    if not ROLE_SCOPES["owner"] <= principal.scopes:
        raise Forbidden(
            "Deleting the organisation needs a personal access token holding every scope of "
            "the owner role.",
            code="owner_required",
        )


MAX_LISTED = 20


def _check_deletable(session: Session, org: Organization, confirm: str | None) -> list[Project]:
    if confirm != org.name:
        raise ValidationFailed(
            "Deleting an organisation needs its name as confirmation: "
            f"?confirm=<the organisation's name> ({org.name!r}).",
            [{"path": "query.confirm", "message": "must equal the organisation's name",
              "type": "confirmation_required"}],
        )  # fmt: skip
    admin_tokens = select(ApiToken.id).where(
        ApiToken.org_id == org.id, ApiToken.is_admin.is_(True), ApiToken.revoked_at.is_(None)
    )
    if session.scalars(admin_tokens.limit(1)).first() is not None:
        raise Conflict(
            "This organisation holds an admin token (it is the instance's bootstrap "
            "organisation); it cannot be deleted.",
            code="org_protected",
        )
    projects = list(session.scalars(select(Project).where(Project.org_id == org.id)))
    held: list[str] = []
    for project in projects:
        held.extend(project_repository.contents(session, project.id, MAX_LISTED + 1 - len(held)))
        if len(held) > MAX_LISTED:
            break
    if held:
        listed = ", ".join(held[:MAX_LISTED]) + (", ..." if len(held) > MAX_LISTED else "")
        raise Conflict(
            f"The organisation's projects still hold {listed}; delete those first.",
            code="org_not_empty",
            details={"used_by": held[:MAX_LISTED]},
        )
    return sorted(projects, key=lambda p: p.id)


def delete(
    session: Session,
    ctx: ChangeContext,
    principal: Principal,
    org: Organization,
    confirm: str | None,
) -> None:
    """Delete an organisation whose projects are empty, in the request's one transaction.

    Each project goes through the project service (its SDK keys revoked, its webhooks deleted,
    audited); the organisation's remaining webhooks are deleted and every credential of it
    (service tokens, SDK keys, personal access tokens) revoked, audited; the ``tokens`` change
    scope is bumped so cached credentials and sessions stop at once. Then the organisation row
    goes: memberships, invitations, token rows and the other org-owned rows follow by
    ``ON DELETE CASCADE`` (both databases). Audit events and revisions carry no foreign key and
    stay, with an ``organization.deleted`` event; users stay (they may belong elsewhere).
    """
    check_owner(principal)
    projects = _check_deletable(session, org, confirm)
    for project in projects:
        project_service.delete(session, ctx, project)
    for webhook in session.scalars(
        select(Webhook).where(Webhook.org_id == org.id).order_by(Webhook.id)
    ):
        webhook_service.delete(session, ctx, webhook)
    revoked = token_service.revoke_org_tokens(session, ctx, org.id)
    audit.record(
        session,
        ctx,
        "organization.deleted",
        ("organization", org.id),
        {"name": {"from": org.name, "to": None}, "projects": [p.id for p in projects],
         "revoked_tokens": revoked},
    )  # fmt: skip
    session.delete(org)
    session.flush()
    changes.bump(session, TOKEN_SCOPE)
    log.warning(
        "organisation %s (%r) deleted by %s %s", org.id, org.name, ctx.actor.type, ctx.actor.id
    )
