"""Personal access tokens (``avsb_pat_``): a person's token, bounded at every request by the
person's current role (the authenticator intersects the two)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from avsb.server.auth import secrets
from avsb.server.auth.authenticator import TOKEN_SCOPE
from avsb.server.auth.principal import Principal
from avsb.server.auth.roles import scopes_for
from avsb.server.auth.scopes import grants
from avsb.server.errors import Forbidden, NotFound, field_error
from avsb.server.kit import changes, resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import ApiToken
from avsb.server.models.base import utcnow
from avsb.server.tokens import service as token_service


def require_person(principal: Principal) -> str:
    """The signed-in person's id; 403 for tokens (a PAT cannot mint PATs)."""
    if principal.user_id is None or principal.kind != "user":
        raise Forbidden("Only a signed-in person may do this.", code="session_required")
    return principal.user_id


def create(
    session: Session,
    ctx: ChangeContext,
    principal: Principal,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiToken, str]:
    """A PAT of ``principal`` in ``ctx.org_id`` holding at most what their role there holds."""
    user_id = require_person(principal)
    role = dict(principal.memberships).get(ctx.org_id)
    if role is None:
        raise field_error("org_id", "You are not a member of this organisation.")
    scopes = token_service.clean_scopes(scopes)
    if not scopes:
        raise field_error("scopes", "A personal access token needs at least one scope.")
    excess = [s for s in scopes if s == "*" or not grants(scopes_for(role), s)]
    if excess:
        raise Forbidden(
            "A personal access token cannot hold more than your role grants.",
            code="scope_escalation",
            details={"scopes": excess},
        )
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise field_error("expires_at", "expires_at must be a future time with a timezone.")
    secret = secrets.generate("pat")
    token = ApiToken(
        id=new_id("tok"),
        org_id=ctx.org_id,
        kind="pat",
        name=name,
        description="",
        scopes=scopes,
        user_id=user_id,
        token_hash=secrets.hash_token(secret),
        token_prefix=secrets.display_prefix(secret),
        expires_at=expires_at,
        created_by=user_id,
    )
    resources.create(session, ctx, token)
    changes.bump(session, TOKEN_SCOPE)
    return token, secret


def of_user(session: Session, user_id: str, org_id: str | None = None) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.kind == "pat", ApiToken.user_id == user_id)
    if org_id is not None:
        stmt = stmt.where(ApiToken.org_id == org_id)
    return list(session.scalars(stmt.order_by(ApiToken.id)))


def get_of_user(session: Session, user_id: str, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.kind != "pat" or token.user_id != user_id:
        raise NotFound(f"No personal access token with id {token_id!r}.")
    return token


def revoke(session: Session, ctx: ChangeContext, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        resources.update(session, ctx, token, {"revoked_at": utcnow()}, "token.revoked")
        changes.bump(session, TOKEN_SCOPE)
    return token
