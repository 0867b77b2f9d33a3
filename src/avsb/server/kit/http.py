"""Shaping answers: the ``{data}`` envelope with ETags, and paginated lists with ``Link``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from avsb.server.kit.etags import check_if_none_match
from avsb.server.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest, next_link
from avsb.server.responses import JSONBytes
from avsb.server.runtime import runtime_of


def _json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


def one(
    request: Request, model: BaseModel, *, etag: str | None = None, status_code: int = 200
) -> Response:
    """``{"data": model}`` with its ETag; a matching ``If-None-Match`` on a GET answers 304."""
    return answer(request, envelope(model), etag=etag, status_code=status_code)


def envelope(model: BaseModel) -> bytes:
    """The body ``one`` answers: ``{"data": model}``."""
    return b'{"data":' + _json(model) + b"}"


def answer(
    request: Request, body: bytes, *, etag: str | None = None, status_code: int = 200
) -> Response:
    """``one`` for a body already enveloped (e.g. rendered once and kept)."""
    if etag is not None and request.method == "GET":
        check_if_none_match(request, etag)
    headers = {"ETag": etag} if etag is not None else None
    return JSONBytes(body, status_code=status_code, headers=headers)


def many(request: Request, items: Sequence[BaseModel], next_cursor: str | None) -> Response:
    """``{"data": [...], "next_cursor", "has_more"}`` plus ``Link: <next>; rel="next"``."""
    body = b",".join(_json(item) for item in items)
    cursor = b"null" if next_cursor is None else b'"' + next_cursor.encode() + b'"'
    has_more = b"false" if next_cursor is None else b"true"
    payload = b'{"data":[' + body + b'],"next_cursor":' + cursor + b',"has_more":' + has_more + b"}"
    headers = {"Link": next_link(request.url, next_cursor)} if next_cursor else None
    return JSONBytes(payload, headers=headers)


def page_out(request: Request, page: Page[BaseModel]) -> Response:
    return many(request, page.items, page.next_cursor)


async def page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PageRequest:
    """``limit`` and ``cursor``; the cursor is bound to this path and its other query filters."""
    filters = sorted(
        (k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "cursor")
    )
    scope = request.url.path + "?" + "&".join(f"{k}={v}" for k, v in filters)
    return PageRequest(runtime_of(request).signer, scope, limit, cursor)


PageDep = Annotated[PageRequest, Depends(page_params)]
