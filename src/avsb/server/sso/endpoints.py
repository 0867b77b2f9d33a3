"""``GET /auth/oidc/login`` and ``GET /auth/oidc/callback``: browser redirects, not API calls
(left out of the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request
from starlette.responses import Response

from avsb.server.sso.service import STATE_COOKIE, sso_of

router = APIRouter(prefix="/auth/oidc", include_in_schema=False)
Param = Annotated[str | None, Query(max_length=2048)]


@router.get("/login")
def oidc_login(request: Request) -> Response:
    return sso_of(request.app).start_sign_in()


@router.get("/callback")
def oidc_callback(
    request: Request,
    code: Param = None,
    state: Param = None,
    error: Param = None,
    iss: Param = None,
    cookie_state: Annotated[str | None, Cookie(alias=STATE_COOKIE, max_length=512)] = None,
) -> Response:
    service = sso_of(request.app)
    identity = service.verified_identity(
        state=state, cookie_state=cookie_state, code=code, error=error, issuer=iss
    )
    return service.complete_sign_in(identity)
