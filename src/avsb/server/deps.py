"""Request dependencies: the per-request session and the auth / scope / tenancy / rate-limit /
idempotency gate every management route declares with ``require("<family>:<access>")``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from avsb.server.auth import access
from avsb.server.auth.access import SAFE_METHODS as SAFE_METHODS  # re-exported
from avsb.server.auth.principal import Principal
from avsb.server.auth.ratelimit import RateDecision
from avsb.server.auth.scopes import family_of
from avsb.server.auth.sessions import SESSION_COOKIE
from avsb.server.kit.context import ChangeContext
from avsb.server.runtime import Runtime, runtime_of


async def get_session(request: Request) -> Session:
    """This request's session: created on first use, committed or rolled back by the route."""
    session: Session | None = getattr(request.state, "db", None)
    if session is None:
        db = runtime_of(request).db
        session = db.session(write=request.method not in SAFE_METHODS)
        request.state.db = session
    return session


SessionDep = Annotated[Session, Depends(get_session)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def presented_token(request: Request) -> str | None:
    """The secret from ``Authorization: Bearer`` or ``X-API-Key``."""
    return access.presented_token(
        request.headers.get("authorization"), request.headers.get("x-api-key")
    )


def caller_of(request: Request) -> access.Caller:
    """What ``request`` presents to the gate."""
    return access.Caller(
        method=request.method,
        ip=client_ip(request),
        token=presented_token(request),
        session=request.cookies.get(SESSION_COOKIE) or None,
        csrf=request.headers.get("x-csrf-token"),
        content_type=request.headers.get("content-type", ""),
    )


def change_context(request: Request, principal: Principal, org_id: str) -> ChangeContext:
    """The audit facts of a change made through this request."""
    return ChangeContext(
        org_id=org_id,
        actor=principal.actor,
        source=principal.source,
        ip=client_ip(request),
        request_id=getattr(request.state, "request_id", None),
    )


async def authenticate(request: Request, family: str) -> tuple[Principal, RateDecision]:
    """Resolve the token (or the sign-in session cookie) and take one request from its
    (credential, family) bucket (``auth.access``, shared with the hot front door)."""
    rt = runtime_of(request)
    principal, decision = await access.identify(rt, caller_of(request), family, request.body)
    request.state.rate = decision
    access.admit(rt, decision, family)
    return principal, decision


async def _reserve_key(request: Request, rt: Runtime, principal: Principal, key: str) -> None:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()
    reservation = await access.reserve_key(rt, principal, key, request.method, path, body)
    request.state.idempotency = reservation


def require(
    scope: str | None, *, admin: bool = False, family: str = "account"
) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency: authenticated, rate-limited, scoped to ``scope`` and to the path's org.

    ``scope=None`` admits any valid token; its rate-limit bucket is then ``family``.
    """
    family = family_of(scope) if scope else family

    async def dependency(request: Request) -> Principal:
        principal, _ = await authenticate(request, family)
        org_id = request.path_params.get("org_id")
        principal = access.authorize(principal, scope, org_id, admin=admin)
        request.state.principal = principal
        key = request.headers.get("idempotency-key")
        if key and request.method not in SAFE_METHODS:
            await _reserve_key(request, runtime_of(request), principal, key)
        return principal

    # What the route demands, for tools that enumerate routes (the access matrix test).
    dependency.required_scope = scope  # type: ignore[attr-defined]
    dependency.admin_only = admin  # type: ignore[attr-defined]
    return dependency
