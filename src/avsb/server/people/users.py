"""Users and their memberships: create, password, disable, roles, members of an organisation.

Every change bumps the ``tokens`` change scope: cached sessions and personal access tokens
then carry the new rights (or none) at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from avsb.server.auth.authenticator import TOKEN_SCOPE
from avsb.server.auth.passwords import MIN_PASSWORD_LENGTH, Passwords
from avsb.server.auth.principal import Principal
from avsb.server.auth.roles import ROLES
from avsb.server.errors import Conflict, Forbidden, NotFound, field_error
from avsb.server.kit import audit, changes
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import ApiToken, Membership, Organization, User, UserSession
from avsb.server.models.base import utcnow


def email_key(email: str) -> str:
    return email.strip().lower()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise field_error(
            "password", f"A password needs at least {MIN_PASSWORD_LENGTH} characters.", "too_short"
        )


def check_role(role: str) -> None:
    if role not in ROLES:
        raise field_error("role", f"role must be one of: {', '.join(ROLES)}")


def user_dict(user: User) -> dict[str, Any]:
    """The public fields of a user (never the password hash)."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "disabled": user.disabled,
        "last_sign_in_at": user.last_sign_in_at,
        "created_at": user.created_at,
    }


def by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email_key == email_key(email)))


def get(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id!r}.")
    return user


def create(
    session: Session, passwords: Passwords, email: str, name: str, password: str | None
) -> User:
    """A new user; 409 ``email_taken`` when the email (ignoring case) is in use."""
    email = email.strip()
    if "@" not in email or len(email) > 320:
        raise field_error("email", "Not an email address.")
    if password is not None:
        check_password(password)
    if by_email(session, email) is not None:
        raise Conflict("A user with this email exists.", code="email_taken")
    user = User(
        id=new_id("usr"),
        email=email,
        email_key=email_key(email),
        name=name,
        password_hash=passwords.hash(password) if password is not None else None,
        disabled=False,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, passwords: Passwords, user: User, password: str) -> None:
    """A new password; every session of the user ends."""
    check_password(password)
    user.password_hash = passwords.hash(password)
    revoke_sessions(session, user.id)


def set_disabled(session: Session, user: User, disabled: bool) -> None:
    """Disable (or enable) a user: their sessions end and their PATs stop at once."""
    user.disabled = disabled
    if disabled:
        revoke_sessions(session, user.id)
    changes.bump(session, TOKEN_SCOPE)


def revoke_sessions(session: Session, user_id: str) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    changes.bump(session, TOKEN_SCOPE)


def membership(session: Session, org_id: str, user_id: str) -> Membership:
    found = session.get(Membership, (user_id, org_id))
    if found is None:
        raise NotFound(f"No member {user_id!r} in this organisation.")
    return found


def members_stmt(org_id: str) -> Select[Membership, User]:
    return (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id)
    )


def member_dict(member: Membership, user: User) -> dict[str, Any]:
    return {**user_dict(user), "org_id": member.org_id, "role": member.role}


def _check_owner_rights(principal: Principal | None, *roles: str) -> None:
    """Only owners (and admin tokens) grant, change or remove the owner role."""
    if "owner" not in roles or principal is None or principal.is_admin:
        return
    if principal.role != "owner":
        raise Forbidden("Only an owner may manage owners.", code="owner_required")


def _owners(session: Session, org_id: str) -> int:
    stmt = select(func.count()).where(Membership.org_id == org_id, Membership.role == "owner")
    return int(session.scalar(stmt) or 0)


def _check_last_owner(session: Session, member: Membership) -> None:
    if member.role == "owner" and _owners(session, member.org_id) <= 1:
        raise Conflict(
            "The last owner of an organisation cannot be removed or demoted; make another "
            "member owner first.",
            code="last_owner",
        )


def add_member(
    session: Session, ctx: ChangeContext, principal: Principal | None, user: User, role: str
) -> Membership:
    check_role(role)
    _check_owner_rights(principal, role)
    if session.get(Organization, ctx.org_id) is None:
        raise NotFound(f"No organisation with id {ctx.org_id!r}.")
    if session.get(Membership, (user.id, ctx.org_id)) is not None:
        raise Conflict("This user is a member already.", code="already_member")
    member = Membership(user_id=user.id, org_id=ctx.org_id, role=role)
    session.add(member)
    session.flush()
    audit.record(
        session,
        ctx,
        "member.added",
        ("user", user.id),
        {"email": {"from": None, "to": user.email}, "role": {"from": None, "to": role}},
    )
    changes.bump(session, TOKEN_SCOPE)
    return member


def change_role(
    session: Session, ctx: ChangeContext, principal: Principal | None, member: Membership, role: str
) -> Membership:
    check_role(role)
    if role == member.role:
        return member
    _check_owner_rights(principal, role, member.role)
    _check_last_owner(session, member)
    old, member.role = member.role, role
    audit.record(
        session, ctx, "member.role_changed", ("user", member.user_id),
        {"role": {"from": old, "to": role}},
    )  # fmt: skip
    changes.bump(session, TOKEN_SCOPE)
    return member


def remove_member(
    session: Session, ctx: ChangeContext, principal: Principal | None, member: Membership
) -> None:
    """Remove a member; their personal access tokens of this organisation are revoked."""
    _check_owner_rights(principal, member.role)
    _check_last_owner(session, member)
    session.delete(member)
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.org_id == member.org_id,
            ApiToken.user_id == member.user_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), updated_at=ApiToken.updated_at)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session, ctx, "member.removed", ("user", member.user_id),
        {"role": {"from": member.role, "to": None}},
    )  # fmt: skip
    changes.bump(session, TOKEN_SCOPE)
