"""First start: the default organisation, the admin token and the owner, created once across
processes."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from avsb.server.auth import secrets
from avsb.server.auth.authenticator import TOKEN_SCOPE
from avsb.server.auth.passwords import Passwords, generate_password
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.kit import audit, changes
from avsb.server.kit.context import system_context
from avsb.server.kit.ids import new_id
from avsb.server.models import ApiToken, Membership, Organization, User

_BOOTSTRAP_LOCK_ID = 726_1123


def _default_org(session: Session) -> Organization:
    org = session.scalar(select(Organization).order_by(Organization.id).limit(1))
    if org is None:
        org = Organization(id=new_id("org"), name="Default")
        session.add(org)
        session.flush()
        audit.record(
            session,
            system_context(org.id),
            "organization.created",
            ("organization", org.id),
            {"name": {"from": None, "to": org.name}},
        )
    return org


def _add_admin_token(session: Session, org: Organization, secret: str) -> None:
    token = ApiToken(
        id=new_id("tok"),
        org_id=org.id,
        kind="admin",
        name="admin",
        description="Created on first start",
        scopes=["*"],
        is_admin=True,
        token_hash=secrets.hash_token(secret),
        token_prefix=secrets.display_prefix(secret),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        system_context(org.id),
        "token.created",
        ("token", token.id),
        {"kind": {"from": None, "to": "admin"}},
    )
    changes.bump(session, TOKEN_SCOPE)


def bootstrap(db: Database, settings: Settings) -> tuple[str, str | None]:
    """Ensure the default org and an admin token; return (org id, new admin secret or None).

    The secret is returned only when it was generated now; with ``AVSB_ADMIN_TOKEN`` set, that
    value is (made) valid instead and nothing is returned.
    """
    with db.transaction() as session:
        if not db.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises this transaction
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BOOTSTRAP_LOCK_ID})
        org = _default_org(session)
        if settings.admin_token is not None:
            secret = settings.admin_token.get_secret_value()
            exists = session.scalar(
                select(ApiToken.id).where(ApiToken.token_hash == secrets.hash_token(secret))
            )
            if exists is None:
                _add_admin_token(session, org, secret)
            return org.id, None
        has_admin = session.scalar(select(ApiToken.id).where(ApiToken.is_admin.is_(True)).limit(1))
        if has_admin is not None:
            return org.id, None
        secret = secrets.generate("admin")
        _add_admin_token(session, org, secret)
        return org.id, secret


DEFAULT_OWNER_EMAIL = "owner@localhost"


def bootstrap_owner(db: Database, settings: Settings, org_id: str) -> tuple[str, str | None]:
    """Ensure the default organisation has an owner; return (owner email, one-time password).

    The owner is ``AVSB_OWNER_EMAIL`` / ``AVSB_OWNER_PASSWORD``, else ``owner@localhost``
    with a random password returned (to print once) only when generated now.
    """
    from avsb.server.people import users

    email = settings.owner_email or DEFAULT_OWNER_EMAIL
    with db.transaction() as session:
        if not db.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BOOTSTRAP_LOCK_ID})
        owner = session.scalar(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.org_id == org_id, Membership.role == "owner")
            .order_by(User.id)
            .limit(1)
        )
        if owner is not None:
            return owner, None
        given = settings.owner_password
        password = given.get_secret_value() if given is not None else generate_password()
        passwords = Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )
        user = users.by_email(session, email)
        if user is None:
            user = users.create(session, passwords, email, "Owner", password)
        elif given is not None:
            users.set_password(session, passwords, user, password)
        else:
            return user.email, None  # not overwriting an existing person's password
        users.add_member(session, system_context(org_id), None, user, "owner")
        return user.email, (password if given is None else None)
