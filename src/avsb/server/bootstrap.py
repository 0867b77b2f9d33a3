"""First start: the default organisation and the admin token, created once across processes."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from avsb.server.auth import secrets
from avsb.server.auth.authenticator import TOKEN_SCOPE
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.kit import audit, changes
from avsb.server.kit.context import system_context
from avsb.server.kit.ids import new_id
from avsb.server.models import ApiToken, Organization

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
