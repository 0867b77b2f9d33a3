"""Request dependencies: the per-request session and the auth / scope / tenancy / rate-limit /
idempotency gate every management route declares with ``require("<family>:<access>")``."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from avsb.server.auth.principal import Principal
from avsb.server.auth.ratelimit import RateDecision
from avsb.server.auth.scopes import family_of, grants
from avsb.server.auth.sessions import SESSION_COOKIE, csrf_token
from avsb.server.errors import (
    Forbidden,
    NotFound,
    RateLimited,
    ScopeMissing,
    Unauthorized,
)
from avsb.server.kit import idempotency
from avsb.server.kit.context import ChangeContext
from avsb.server.runtime import Runtime, runtime_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def change_context(request: Request, principal: Principal, org_id: str) -> ChangeContext:
    """The audit facts of a change made through this request."""
    return ChangeContext(
        org_id=org_id,
        actor=principal.actor,
        source=principal.source,
        ip=client_ip(request),
        request_id=getattr(request.state, "request_id", None),
    )


async def check_csrf(request: Request, raw_session: str) -> None:
    """403 ``csrf_failed`` unless a cookie-authenticated state change echoes the session's
    CSRF token in ``X-CSRF-Token`` or the form field ``csrf_token``."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if not sent and content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        sent = (form.get("csrf_token") or [""])[0]
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(raw_session).encode()):
        raise Forbidden(
            "This request needs the CSRF token of the session (cookie 'avsb_csrf') in the "
            "'X-CSRF-Token' header or the 'csrf_token' form field.",
            code="csrf_failed",
        )


async def authenticate(request: Request, family: str) -> tuple[Principal, RateDecision]:
    """Resolve the token (or the sign-in session cookie) and take one request from its
    (credential, family) bucket."""
    rt = runtime_of(request)
    raw = presented_token(request)
    ip = client_ip(request)
    by_cookie = False
    if raw is None:
        raw = request.cookies.get(SESSION_COOKIE) or None
        by_cookie = raw is not None
    if raw is None:
        rt.authenticator.throttle.check(ip)
        raise Unauthorized("Send a token as 'Authorization: Bearer <token>' or 'X-API-Key'.")
    if by_cookie:
        await check_csrf(request, raw)

    def work() -> tuple[Principal, RateDecision]:
        principal = rt.authenticator.authenticate(raw, ip, session=by_cookie)
        return principal, rt.limiter.acquire(f"{principal.token_id}:{family}")

    try:
        # The common case (token cached, a leased rate-limit token at hand) needs no I/O and
        # stays on the event loop; anything else goes to the thread pool.
        if by_cookie:
            cached = rt.authenticator.cached_session(raw, ip)
        else:
            cached = rt.authenticator.cached(raw, ip)
        local = rt.limiter.try_local(f"{cached.token_id}:{family}") if cached else None
        if cached is not None and local is not None:
            principal, decision = cached, local
        else:
            principal, decision = await run_in_threadpool(work)
    except Unauthorized:
        rt.metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
        raise
    request.state.rate = decision
    if not decision.allowed:
        rt.metrics.inc("avsb_rate_limited_total", doc="Requests refused by the rate limit.")
        raise RateLimited(
            f"Rate limit of {decision.limit} requests per minute for '{family}' exceeded.",
            headers=decision.headers(),
        )
    return principal, decision


async def _reserve_key(request: Request, rt: Runtime, principal: Principal, key: str) -> None:
    idempotency.check_key(key)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    fp = idempotency.fingerprint(request.method, path, await request.body())
    reservation = idempotency.Reservation(principal.token_id, key)
    await run_in_threadpool(idempotency.reserve, rt.db, reservation, fp, rt.key_policy)
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
        if principal.kind == "sdk":
            raise Forbidden("SDK keys may only call evaluation routes.", code="sdk_key_not_allowed")
        if admin and not principal.is_admin:
            raise Forbidden("Only an admin token may do this.", code="admin_required")
        org_id = request.path_params.get("org_id")
        # A person acts in the path's organisation with the scopes of their role there.
        scoped = principal.in_org(org_id) if org_id is not None else principal
        if scoped is not None:
            principal = scoped
        elif principal.user_id is not None:  # not a member: the organisation is not theirs
            raise NotFound(f"No organisation with id {org_id!r}.")
        if scope is not None and not grants(principal.scopes, scope):
            raise ScopeMissing(
                f"Token is missing required scope: {scope}", details={"missingScope": scope}
            )
        if scoped is None:
            raise NotFound(f"No organisation with id {org_id!r}.")
        request.state.principal = principal
        key = request.headers.get("idempotency-key")
        if key and request.method not in SAFE_METHODS:
            await _reserve_key(request, runtime_of(request), principal, key)
        return principal

    # What the route demands, for tools that enumerate routes (the access matrix test).
    dependency.required_scope = scope  # type: ignore[attr-defined]
    dependency.admin_only = admin  # type: ignore[attr-defined]
    return dependency
