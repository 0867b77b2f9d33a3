"""The route class of every API route: one transaction per request, committed here.

The endpoint's work, the idempotency record of its answer and the audit events all commit in
one transaction after the answer is built, so a failure anywhere leaves nothing half-written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute, APIRouter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from avsb.server.auth.ratelimit import RateDecision
from avsb.server.deps import SAFE_METHODS
from avsb.server.kit import idempotency
from avsb.server.responses import response_for_exception
from avsb.server.runtime import runtime_of

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class StrictJsonRequest(Request):
    """A request whose JSON body may not hold a lone surrogate escape (``"\\ud800"``).

    The standard library's parser accepts one and makes a string no UTF-8 text can hold, so
    the request failed later, when the database or a webhook encoded it (a 500). Refused as
    malformed JSON instead: FastAPI answers its ``json_invalid`` validation error, our 422."""

    async def json(self) -> Any:
        body = await self.body()
        data = json.loads(body)
        found = _SURROGATE_ESCAPE.search(body)
        if found is not None:  # rare: a check of the parsed strings only when one may hide
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                text = body.decode("utf-8", "replace")
                raise json.JSONDecodeError(
                    "A lone surrogate escape: strings must be valid Unicode text",
                    text, found.start(),
                ) from None  # fmt: skip
        return data


def _finish_ok(request: Request, response: Response, secret: bool) -> Response:
    """Commit the request's transaction with the idempotency record of a successful answer
    (only an id when the answer carries a ``secret``); an answer of 400 or more is an error
    that changed nothing, and its key is released."""
    session: Session | None = getattr(request.state, "db", None)
    reservation: idempotency.Reservation | None = getattr(request.state, "idempotency", None)
    db = runtime_of(request).db
    storable = reservation is not None and hasattr(response, "body") and response.status_code < 400
    try:
        if session is not None:
            if storable and reservation is not None:
                idempotency.complete(session, reservation, response, secret=secret)
            session.commit()
        elif storable and reservation is not None:
            with db.transaction() as own:
                idempotency.complete(own, reservation, response, secret=secret)
    except Exception as exc:
        if session is not None:
            session.rollback()
        if reservation is not None:
            idempotency.release(db, reservation)
        return response_for_exception(request, exc)
    finally:
        if session is not None:
            session.close()
    if reservation is not None and not storable:
        idempotency.release(db, reservation)
    return response


def _finish_error(request: Request) -> None:
    """Roll back; an error changed nothing, so its key is released for the corrected request
    (a 422 stored under the key would turn the fixed body into a 409 for 24 hours)."""
    session: Session | None = getattr(request.state, "db", None)
    reservation: idempotency.Reservation | None = getattr(request.state, "idempotency", None)
    if session is not None:
        session.rollback()
        session.close()
    if reservation is not None:
        idempotency.release(runtime_of(request).db, reservation)


class AvsbRoute(APIRoute):
    """An API route whose answer commits (or rolls back) the request's one transaction."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()
        secret = idempotency.carries_secret(self.response_model)

        async def handler(request: Request) -> Response:
            try:
                response = await inner(StrictJsonRequest(request.scope, request.receive))
            except Exception as exc:
                response = response_for_exception(request, exc)
                await run_in_threadpool(_finish_error, request)
            else:
                state = request.scope.get("state") or {}  # what request.state holds, unwrapped
                session: Session | None = state.get("db")
                reserved = state.get("idempotency") is not None
                if session is not None and not reserved and request.method in SAFE_METHODS:
                    session.close()  # a read: nothing to commit; returns the connection
                elif session is not None or reserved:
                    response = await run_in_threadpool(_finish_ok, request, response, secret)
            rate: RateDecision | None = (request.scope.get("state") or {}).get("rate")
            if rate is not None and rate.allowed:
                response.raw_headers.extend(rate.raw_headers())  # nothing else sets them
            elif rate is not None:  # the 429 carries them already: keep one of each
                response.headers.update(rate.headers())
            return response

        return handler


class AvsbRouter(APIRouter):
    """An ``APIRouter`` of ``AvsbRoute`` routes."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", AvsbRoute)
        super().__init__(**kwargs)
