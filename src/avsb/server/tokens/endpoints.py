from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.kit.etags import check_if_match, make_etag
from avsb.server.kit.http import PageDep, many, one
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ListEnvelope
from avsb.server.models import ApiToken
from avsb.server.tokens import service as token_service
from avsb.server.tokens.schemas import TokenCreate, TokenCreated, TokenOut, TokenPatch, TokenRotate

router = AvsbRouter(
    prefix="/api/orgs/{org_id}/tokens",
    tags=["tokens"],
    responses=ERROR_RESPONSES,
)
TokensRead = Annotated[Principal, Depends(require("tokens:read"))]
TokensWrite = Annotated[Principal, Depends(require("tokens:write"))]


def _out(request: Request, token: ApiToken, status_code: int = 200) -> Response:
    out = TokenOut.model_validate(token_service.as_dict(token))
    return one(request, out, etag=make_etag(token.id, token.version), status_code=status_code)


@router.post("", status_code=201, response_model=Envelope[TokenCreated])
def create_token(
    org_id: str, body: TokenCreate, principal: TokensWrite, session: SessionDep, request: Request
) -> Response:
    ctx = change_context(request, principal, org_id)
    token, secret = token_service.create(session, ctx, principal, body.model_dump())
    created = TokenCreated.model_validate({**token_service.as_dict(token), "token": secret})
    return one(request, created, etag=make_etag(token.id, token.version), status_code=201)


@router.get("", response_model=ListEnvelope[TokenOut])
def list_tokens(
    org_id: str,
    _principal: TokensRead,
    session: SessionDep,
    page: PageDep,
    request: Request,
    kind: Annotated[Literal["service", "sdk", "pat"] | None, Query()] = None,
) -> Response:
    result = page.paginate(session, token_service.list_stmt(org_id, kind), ApiToken.id)
    items = [TokenOut.model_validate(token_service.as_dict(t)) for t in result.items]
    return many(request, items, result.next_cursor)


@router.get("/{token_id}", response_model=Envelope[TokenOut])
def get_token(
    org_id: str, token_id: str, principal: TokensRead, session: SessionDep, request: Request
) -> Response:
    return _out(request, token_service.get(session, principal, org_id, token_id))


@router.patch("/{token_id}", response_model=Envelope[TokenOut])
def patch_token(
    org_id: str,
    token_id: str,
    body: TokenPatch,
    principal: TokensWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    token = token_service.get(session, principal, org_id, token_id)
    check_if_match(request, make_etag(token.id, token.version))
    ctx = change_context(request, principal, org_id)
    token_service.patch(session, ctx, principal, token, body.model_dump(exclude_unset=True))
    return _out(request, token)


@router.post("/{token_id}/rotate", response_model=Envelope[TokenCreated])
def rotate_token(
    org_id: str,
    token_id: str,
    principal: TokensWrite,
    session: SessionDep,
    request: Request,
    body: TokenRotate | None = None,
) -> Response:
    token = token_service.get(session, principal, org_id, token_id)
    check_if_match(request, make_etag(token.id, token.version))
    grace = body.grace_period_seconds if body else 0
    secret = token_service.rotate(
        session, change_context(request, principal, org_id), principal, token, grace
    )
    created = TokenCreated.model_validate({**token_service.as_dict(token), "token": secret})
    return one(request, created, etag=make_etag(token.id, token.version))


@router.post("/{token_id}/revoke", response_model=Envelope[TokenOut])
def revoke_token(
    org_id: str, token_id: str, principal: TokensWrite, session: SessionDep, request: Request
) -> Response:
    token = token_service.get(session, principal, org_id, token_id)
    check_if_match(request, make_etag(token.id, token.version))
    token_service.revoke(session, change_context(request, principal, org_id), principal, token)
    return _out(request, token)


@router.delete("/{token_id}", status_code=204)
def delete_token(
    org_id: str, token_id: str, principal: TokensWrite, session: SessionDep, request: Request
) -> Response:
    token = token_service.get(session, principal, org_id, token_id)
    check_if_match(request, make_etag(token.id, token.version))
    token_service.delete(session, change_context(request, principal, org_id), principal, token)
    return Response(status_code=204)
