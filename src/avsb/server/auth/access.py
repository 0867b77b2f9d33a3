"""Who is calling a management route, and may they: the framework-free core of the gate every
management route declares with ``deps.require("<family>:<access>")``.

One implementation for both front doors: ``deps`` adapts a Starlette request to it for the
FastAPI routes, and the hot front door (``hotpath``) adapts the raw ASGI scope for the routes
it answers itself (event ingestion). Token or sign-in session (with its CSRF check),
authentication from the cache when it can (else a worker thread), one request from the
(credential, family) rate bucket, SDK keys refused, the path's organisation and the scope
checked, then the ``Idempotency-Key`` reserved.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool

from avsb.server.auth.principal import Principal
from avsb.server.auth.ratelimit import RateDecision
from avsb.server.auth.scopes import grants
from avsb.server.auth.sessions import csrf_token
from avsb.server.errors import Forbidden, NotFound, RateLimited, ScopeMissing, Unauthorized
from avsb.server.kit import idempotency
from avsb.server.runtime import Runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BodyReader = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Caller:
    """What a request presents to the gate, read from its headers."""

    method: str
    ip: str
    token: str | None  # from `Authorization: Bearer` or `X-API-Key`
    session: str | None  # the sign-in session cookie's value
    csrf: str | None  # `X-CSRF-Token`
    content_type: str


def presented_token(authorization: str | None, api_key: str | None) -> str | None:
    """The secret from ``Authorization: Bearer`` or ``X-API-Key``."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return api_key.strip() if api_key and api_key.strip() else None


async def check_csrf(caller: Caller, raw_session: str, body: BodyReader) -> None:
    """403 ``csrf_failed`` unless a cookie-authenticated state change echoes the session's
    CSRF token in ``X-CSRF-Token`` or the form field ``csrf_token``."""
    if caller.method in SAFE_METHODS:
        return
    sent = caller.csrf
    if not sent and caller.content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs((await body()).decode("utf-8", "replace"))
        sent = (form.get("csrf_token") or [""])[0]
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(raw_session).encode()):
        raise Forbidden(
            "This request needs the CSRF token of the session (cookie 'avsb_csrf') in the "
            "'X-CSRF-Token' header or the 'csrf_token' form field.",
            code="csrf_failed",
        )


async def identify(
    rt: Runtime, caller: Caller, family: str, body: BodyReader
) -> tuple[Principal, RateDecision]:
    """Resolve the token (or the sign-in session cookie) and take one request from its
    (credential, family) bucket. The decision may refuse: see ``admit``."""
    raw, ip = caller.token, caller.ip
    by_cookie = False
    if raw is None:
        raw = caller.session or None
        by_cookie = raw is not None
    if raw is None:
        rt.authenticator.throttle.check(ip)
        raise Unauthorized("Send a token as 'Authorization: Bearer <token>' or 'X-API-Key'.")
    if by_cookie:
        await check_csrf(caller, raw, body)
    found: str = raw

    def work() -> tuple[Principal, RateDecision]:
        principal = rt.authenticator.authenticate(found, ip, session=by_cookie)
        return principal, rt.limiter.acquire(f"{principal.token_id}:{family}")

    try:
        # The common case (token cached, a leased rate-limit token at hand) needs no I/O and
        # stays on the event loop; anything else goes to the thread pool.
        if by_cookie:
            cached = rt.authenticator.cached_session(found, ip)
        else:
            cached = rt.authenticator.cached(found, ip)
        local = rt.limiter.try_local(f"{cached.token_id}:{family}") if cached else None
        if cached is not None and local is not None:
            return cached, local
        return await run_in_threadpool(work)
    except Unauthorized:
        rt.metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
        raise


def admit(rt: Runtime, decision: RateDecision, family: str) -> None:
    """429 when the rate decision refused the request."""
    if not decision.allowed:
        rt.metrics.inc("avsb_rate_limited_total", doc="Requests refused by the rate limit.")
        raise RateLimited(
            f"Rate limit of {decision.limit} requests per minute for '{family}' exceeded.",
            headers=decision.headers(),
        )


def authorize(principal: Principal, scope: str | None, org_id: str | None, *,
              admin: bool = False) -> Principal:  # fmt: skip
    """The principal acting in the path's organisation, if it may do ``scope`` there: 403
    for an SDK key, a non-admin where admin is required or a missing scope; 404 for an
    organisation that is not the caller's."""
    if principal.kind == "sdk":
        raise Forbidden("SDK keys may only call evaluation routes.", code="sdk_key_not_allowed")
    if admin and not principal.is_admin:
        raise Forbidden("Only an admin token may do this.", code="admin_required")
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
    return principal


async def reserve_key(
    rt: Runtime, principal: Principal, key: str, method: str, path: str, body: bytes
) -> idempotency.Reservation:
    """Claim an ``Idempotency-Key`` for this request (``path`` with its query string): raises
    ``IdempotentReplay`` with the stored answer, or 409 / 422 as ``idempotency`` says."""
    idempotency.check_key(key)
    fp = idempotency.fingerprint(method, path, body)
    reservation = idempotency.Reservation(principal.token_id, key)
    await run_in_threadpool(idempotency.reserve, rt.db, reservation, fp, rt.key_policy)
    return reservation
