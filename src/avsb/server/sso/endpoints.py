"""``GET /auth/oidc/login`` and ``GET /auth/oidc/callback``: browser redirects, not API calls
(left out of the OpenAPI document). Both are unauthenticated, so both are rate-limited per
client address (the default token bucket, key ``sso:<address>``): a sign-in start writes a row.

A browser (``Accept`` naming ``text/html``) that meets a refusal is sent back to the sign-in
page with the refusal's message shown there (post / redirect / get, as the dashboard's forms
do); any other client gets the structured JSON error. The messages are the server's own
(what the provider or the query string said is only ever in the JSON ``details``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request
from starlette.responses import Response

from avsb.server.dashboard.core import see_other
from avsb.server.deps import client_ip
from avsb.server.errors import AvsbError, RateLimited
from avsb.server.runtime import runtime_of
from avsb.server.sso.service import STATE_COOKIE, SsoService, sso_of

router = APIRouter(prefix="/auth/oidc", include_in_schema=False)
Param = Annotated[str | None, Query(max_length=2048)]


def _admitted(request: Request) -> SsoService:
    service = sso_of(request.app)
    decision = runtime_of(request).limiter.acquire(f"sso:{client_ip(request)}")
    if not decision.allowed:
        raise RateLimited(
            "Too many sign-in attempts from this address.", headers=decision.headers()
        )
    return service


def _answered(request: Request, answer: Callable[[], Response]) -> Response:
    """``answer()``; a refusal goes back to the sign-in page for a browser."""
    try:
        return answer()
    except AvsbError as exc:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        return see_other("/login", exc.message, "error")


@router.get("/login")
def oidc_login(request: Request) -> Response:
    return _answered(request, lambda: _admitted(request).start_sign_in())


@router.get("/callback")
def oidc_callback(
    request: Request,
    code: Param = None,
    state: Param = None,
    error: Param = None,
    iss: Param = None,
    cookie_state: Annotated[str | None, Cookie(alias=STATE_COOKIE, max_length=512)] = None,
) -> Response:
    def answer() -> Response:
        service = _admitted(request)
        identity = service.verified_identity(
            state=state, cookie_state=cookie_state, code=code, error=error, issuer=iss
        )
        return service.complete_sign_in(identity, request)

    return _answered(request, answer)
