"""Service tokens and SDK keys: create, rotate with a grace period, revoke, delete."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from avsb.server.auth import secrets
from avsb.server.auth.authenticator import TOKEN_SCOPE
from avsb.server.auth.principal import Principal
from avsb.server.auth.scopes import grants, is_valid
from avsb.server.errors import Forbidden, NotFound, field_error
from avsb.server.kit import changes, resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import ApiToken, Project
from avsb.server.models.base import utcnow


def status_of(token: ApiToken, now: datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def as_dict(token: ApiToken) -> dict[str, Any]:
    """The public fields of a token (never its hash)."""
    fields = (
        "id",
        "org_id",
        "kind",
        "name",
        "description",
        "scopes",
        "project_id",
        "rate_limit_per_minute",
        "rate_limit_burst",
        "allowed_origins",
        "user_id",
    )
    out: dict[str, Any] = {f: getattr(token, f) for f in fields}
    out.update(
        token_prefix=token.token_prefix + "…",
        status=status_of(token),
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        previous_expires_at=token.previous_expires_at,
        created_at=token.created_at,
        updated_at=token.updated_at,
    )
    return out


def list_stmt(org_id: str, kind: str | None) -> Select[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.org_id == org_id, ApiToken.is_admin.is_(False))
    if kind is not None:
        stmt = stmt.where(ApiToken.kind == kind)
    return stmt


# What an SDK key can reach, in scopes: the compiled evaluation config of its project holds
# its flags, experiments, audiences, segments and exclusion groups, and the key records
# exposures (events) that feed the results. Minting, rotating, revoking or editing one takes
# all of these (docs/security.md).
SDK_KEY_RIGHTS: tuple[str, ...] = (
    "flags:read",
    "experiments:read",
    "audiences:read",
    "segments:read",
    "exclusion_groups:read",
    "events:write",
)


def rights_of(token: ApiToken) -> list[str]:
    """The scopes a token carries: its own for a service token, ``SDK_KEY_RIGHTS`` for an
    SDK key, ``*`` for an admin token."""
    if token.is_admin:
        return ["*"]
    if token.kind == "sdk":
        return list(SDK_KEY_RIGHTS)
    return list(token.scopes)


def _check_grantable(principal: Principal, scopes: list[str], what: str = "grant") -> None:
    """A token may only hand out (or take control of) rights it holds itself; admin tokens
    hold everything."""
    if principal.is_admin:
        return
    excess = [s for s in scopes if not grants(principal.scopes, s)]
    if excess:
        message = {
            "grant": "A token cannot grant scopes it does not hold itself.",
            "control": "A token cannot manage a token that carries scopes it does not hold.",
        }[what]
        raise Forbidden(message, code="scope_escalation", details={"scopes": excess})


def _not_personal(token: ApiToken) -> None:
    """A personal access token is its person's: others may list and revoke it, never take its
    secret (rotate) or change what it may do (patch)."""
    if token.kind == "pat":
        raise Forbidden(
            "A personal access token is managed by its owner; revoke it instead.",
            code="personal_token",
        )


def check_control(principal: Principal, token: ApiToken) -> None:
    """403 ``scope_escalation`` unless ``principal`` holds every right ``token`` carries.

    Rotating hands out the target's secret; revoking, deleting or editing it (its expiry, its
    scopes) changes what it can do: all need the target's rights, like creating it did.
    """
    _check_grantable(principal, rights_of(token), "control")


def clean_scopes(scopes: list[str]) -> list[str]:
    """Known scopes, sorted and once each; 422 naming the unknown ones otherwise."""
    bad = [s for s in scopes if not is_valid(s)]
    if bad:
        raise field_error("scopes", f"unknown scopes: {', '.join(bad)}")
    return sorted(set(scopes))


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise field_error("expires_at", "expires_at must be a future time with a timezone.")


_RATE_FIELDS = ("rate_limit_per_minute", "rate_limit_burst")


def _check_rate_limits(kind: str, spec: dict[str, Any]) -> None:
    """Only service tokens take their own rate limit (SDK keys have the evaluation limit)."""
    for name in _RATE_FIELDS:
        if kind != "service" and spec.get(name) is not None:
            raise field_error(name, "Only service tokens take their own rate limit.")


def create(
    session: Session, ctx: ChangeContext, principal: Principal, spec: dict[str, Any]
) -> tuple[ApiToken, str]:
    """A new token and its secret (the secret is returned once and never stored)."""
    kind: str = spec["kind"]
    scopes: list[str] = spec["scopes"]
    _check_expiry(spec.get("expires_at"))
    _check_rate_limits(kind, spec)
    project_id = spec.get("project_id")
    if kind == "sdk":
        project = session.get(Project, project_id) if project_id else None
        if project is None or project.org_id != ctx.org_id:
            raise field_error("project_id", "An SDK key needs a project of this organisation.")
        if scopes:
            raise field_error("scopes", "SDK keys have no scopes.")
        _check_grantable(principal, list(SDK_KEY_RIGHTS))
    else:
        if project_id is not None:
            raise field_error("project_id", "Only SDK keys are bound to a project.")
        if spec.get("allowed_origins") is not None:
            raise field_error("allowed_origins", "Only SDK keys have allowed origins.")
        scopes = clean_scopes(scopes)
        if not scopes:
            raise field_error("scopes", "A service token needs at least one scope.")
        _check_grantable(principal, scopes)
    secret = secrets.generate(kind)
    token = ApiToken(
        id=new_id("tok"),
        org_id=ctx.org_id,
        kind=kind,
        name=spec["name"],
        description=spec.get("description", ""),
        scopes=scopes,
        project_id=project_id,
        token_hash=secrets.hash_token(secret),
        token_prefix=secrets.display_prefix(secret),
        expires_at=spec.get("expires_at"),
        rate_limit_per_minute=spec.get("rate_limit_per_minute"),
        rate_limit_burst=spec.get("rate_limit_burst"),
        created_by=ctx.actor.id,
        sdk_secret=secret if kind == "sdk" else None,  # the ABC signature needs it
        allowed_origins=spec.get("allowed_origins"),
    )
    resources.create(session, ctx, token)
    changes.bump(session, TOKEN_SCOPE)
    return token, secret


def patch(
    session: Session,
    ctx: ChangeContext,
    principal: Principal,
    token: ApiToken,
    spec: dict[str, Any],
) -> ApiToken:
    _not_personal(token)
    check_control(principal, token)
    if "scopes" in spec:
        if token.kind == "sdk":
            raise field_error("scopes", "SDK keys have no scopes.")
        spec = {**spec, "scopes": clean_scopes(spec["scopes"])}
        if not spec["scopes"]:
            raise field_error("scopes", "A service token needs at least one scope.")
        _check_grantable(principal, spec["scopes"])
    if "expires_at" in spec:
        _check_expiry(spec["expires_at"])
    if spec.get("allowed_origins") is not None and token.kind != "sdk":
        raise field_error("allowed_origins", "Only SDK keys have allowed origins.")
    _check_rate_limits(token.kind, spec)
    resources.update(session, ctx, token, spec)
    changes.bump(session, TOKEN_SCOPE)
    return token


def rotate(
    session: Session, ctx: ChangeContext, principal: Principal, token: ApiToken, grace_seconds: int
) -> str:
    """A new secret; the old one keeps working for ``grace_seconds``."""
    _not_personal(token)
    check_control(principal, token)
    if token.revoked_at is not None:
        raise field_error("id", "A revoked token cannot be rotated.", "revoked")
    secret = secrets.generate(token.kind)
    if grace_seconds > 0:
        token.previous_hash = token.token_hash
        token.previous_expires_at = utcnow() + timedelta(seconds=grace_seconds)
    else:
        token.previous_hash = None
        token.previous_expires_at = None
    token.token_hash = secrets.hash_token(secret)
    token.token_prefix = secrets.display_prefix(secret)
    if token.kind == "sdk":
        token.sdk_previous_secret = token.sdk_secret if grace_seconds > 0 else None
        token.sdk_secret = secret
    resources.touch(session, ctx, token, "token.rotated", {"grace_period_seconds": grace_seconds})
    changes.bump(session, TOKEN_SCOPE)
    return secret


def revoke(session: Session, ctx: ChangeContext, principal: Principal, token: ApiToken) -> ApiToken:
    check_control(principal, token)
    return _revoke(session, ctx, token)


def revoke_project_keys(session: Session, ctx: ChangeContext, project_id: str) -> list[str]:
    """Revoke the SDK keys of a project being deleted (each audited); their ids."""
    stmt = select(ApiToken).where(
        ApiToken.kind == "sdk", ApiToken.project_id == project_id, ApiToken.revoked_at.is_(None)
    )
    keys = list(session.scalars(stmt.order_by(ApiToken.id)))
    for key in keys:
        _revoke(session, ctx, key)
    return [key.id for key in keys]


def revoke_org_tokens(session: Session, ctx: ChangeContext, org_id: str) -> list[str]:
    """Revoke every live credential of an organisation being deleted: service tokens, SDK keys
    and personal access tokens (each audited); their ids."""
    stmt = select(ApiToken).where(ApiToken.org_id == org_id, ApiToken.revoked_at.is_(None))
    tokens = list(session.scalars(stmt.order_by(ApiToken.id)))
    for token in tokens:
        _revoke(session, ctx, token)
    return [token.id for token in tokens]


def _revoke(session: Session, ctx: ChangeContext, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.sdk_secret = token.sdk_previous_secret = None
        resources.update(
            session, ctx, token, {"revoked_at": utcnow(), "previous_hash": None}, "token.revoked"
        )
        changes.bump(session, TOKEN_SCOPE)
    return token


def get(session: Session, principal: Principal, org_id: str, token_id: str) -> ApiToken:
    """A token of this organisation; admin tokens are visible to admin tokens only."""
    token = resources.get_in_org(session, ApiToken, org_id, token_id)
    if token.is_admin and not principal.is_admin:
        raise NotFound(f"No token with id {token_id!r}.")
    return token


def delete(session: Session, ctx: ChangeContext, principal: Principal, token: ApiToken) -> None:
    check_control(principal, token)
    resources.delete(session, ctx, token)
    changes.bump(session, TOKEN_SCOPE)
