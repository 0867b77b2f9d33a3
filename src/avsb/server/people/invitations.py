"""Invitations: a single-use link (only its hash stored) that makes a member and signs in."""

from __future__ import annotations

import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from avsb.server.auth.passwords import Passwords
from avsb.server.auth.principal import Principal
from avsb.server.auth.secrets import hash_token
from avsb.server.config import Settings
from avsb.server.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, field_error
from avsb.server.kit import audit
from avsb.server.kit.context import Actor, ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Invitation, Organization, User
from avsb.server.models.base import utcnow
from avsb.server.people import mail, users
from avsb.server.people.schemas import InvitationCreate


def create(
    session: Session, ctx: ChangeContext, principal: Principal, settings: Settings, email: str,
    role: str,
) -> tuple[Invitation, str]:  # fmt: skip
    """A new invitation and its secret token (returned once)."""
    users.check_role(role)
    if role == "owner" and not principal.is_admin and principal.role != "owner":
        raise Forbidden("Only an owner may invite owners.", code="owner_required")
    email = email.strip()
    if "@" not in email:
        raise field_error("email", "Not an email address.")
    raw = secrets.token_urlsafe(32)
    invitation = Invitation(
        id=new_id("inv"),
        org_id=ctx.org_id,
        email=email,
        role=role,
        token_hash=hash_token(raw),
        expires_at=utcnow() + timedelta(days=settings.invitation_days),
        created_by=ctx.actor.id,
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session, ctx, "invitation.created", ("invitation", invitation.id),
        {"email": {"from": None, "to": email}, "role": {"from": None, "to": role}},
    )  # fmt: skip
    return invitation, raw


@dataclass(frozen=True)
class Sent:
    """An invitation made by ``invite``: its link (the secret, shown once) and whether it
    was emailed."""

    invitation: Invitation
    url: str
    emailed: bool


def invite(
    session: Session, ctx: ChangeContext, principal: Principal, settings: Settings,
    body: InvitationCreate, base_url: str,
) -> Sent:  # fmt: skip
    """Invite someone (``create``) and, when ``AVSB_SMTP_HOST`` is set, email them the link
    to the dashboard's ``/join/{token}`` page (``public_url``, else ``base_url``). The API's
    ``POST /api/orgs/{org}/invitations`` and the dashboard's members page both come here.
    An email that cannot be sent raises 503 ``smtp_failed``: the caller rolls back, so no
    invitation is kept that nobody received."""
    invitation, raw = create(session, ctx, principal, settings, body.email, body.role)
    url = f"{(settings.public_url or base_url).rstrip('/')}/join/{raw}"
    if not settings.smtp_host:
        return Sent(invitation, url, emailed=False)
    org = session.scalar(select(Organization.name).where(Organization.id == ctx.org_id)) or ""
    try:
        mail.send_invitation(settings, invitation.email, org, invitation.role, url)
    except (OSError, smtplib.SMTPException) as exc:
        raise ServiceUnavailable(
            f"The invitation email could not be sent ({type(exc).__name__}).",
            code="smtp_failed",
        ) from None
    return Sent(invitation, url, emailed=True)


def accept(
    session: Session, passwords: Passwords, raw: str, name: str, password: str, ip: str | None
) -> User:
    """Use an invitation: the (new or existing) user becomes a member; the user returned."""
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(raw)))
    if invitation is None:
        raise NotFound("No such invitation.", code="invitation_invalid")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was used already.", code="invitation_used")
    if invitation.expires_at <= utcnow():
        raise Conflict("This invitation has expired.", code="invitation_expired")
    user = users.by_email(session, invitation.email)
    if user is None:
        user = users.create(session, passwords, invitation.email, name, password)
    elif user.disabled:
        raise Forbidden("This account is disabled.", code="user_disabled")
    elif not passwords.verify(user.password_hash, password):
        raise Forbidden(
            "An account with this email exists: give its password to accept.",
            code="invalid_credentials",
        )
    # Single use even under concurrent accepts: only one UPDATE finds it unused.
    used = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=utcnow(), accepted_by=user.id)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise Conflict("This invitation was used already.", code="invitation_used")
    ctx = ChangeContext(
        invitation.org_id, Actor("user", user.id, user.email), "dashboard", ip, None
    )
    users.add_member(session, ctx, None, user, invitation.role)
    return user


def pending(session: Session, org_id: str) -> list[Invitation]:
    """The organisation's invitations that can still be accepted, oldest first."""
    stmt = select(Invitation).where(
        Invitation.org_id == org_id,
        Invitation.accepted_at.is_(None),
        Invitation.expires_at > utcnow(),
    )
    return list(session.scalars(stmt.order_by(Invitation.id)))


def revoke(session: Session, ctx: ChangeContext, invitation_id: str) -> Invitation:
    """Withdraw a pending invitation of ``ctx.org_id``: its link stops working (audited)."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.org_id != ctx.org_id:
        raise NotFound(f"No invitation with id {invitation_id!r}.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was used already.", code="invitation_used")
    session.delete(invitation)
    session.flush()
    audit.record(
        session, ctx, "invitation.revoked", ("invitation", invitation.id),
        {"email": {"from": invitation.email, "to": None}},
    )  # fmt: skip
    return invitation
