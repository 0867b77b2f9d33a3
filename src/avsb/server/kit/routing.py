"""The route class of every API route: one transaction per request, committed here.

The endpoint's work, the idempotency record of its answer and the audit events all commit in
one transaction after the answer is built, so a failure anywhere leaves nothing half-written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute, APIRouter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from avsb.server.auth.ratelimit import RateDecision
from avsb.server.deps import SAFE_METHODS
from avsb.server.kit import idempotency
from avsb.server.responses import response_for_exception
from avsb.server.runtime import runtime_of

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _finish_ok(request: Request, response: Response) -> Response:
    session: Session | None = getattr(request.state, "db", None)
    reservation: idempotency.Reservation | None = getattr(request.state, "idempotency", None)
    db = runtime_of(request).db
    storable = reservation is not None and hasattr(response, "body")
    try:
        if session is not None:
            if storable and reservation is not None:
                idempotency.complete(session, reservation, response)
            session.commit()
        elif storable and reservation is not None:
            with db.transaction() as own:
                idempotency.complete(own, reservation, response)
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


def _finish_error(request: Request, response: Response) -> None:
    session: Session | None = getattr(request.state, "db", None)
    reservation: idempotency.Reservation | None = getattr(request.state, "idempotency", None)
    if session is not None:
        session.rollback()
        session.close()
    if reservation is None:
        return
    db = runtime_of(request).db
    if response.status_code < 500:
        with db.transaction() as own:
            idempotency.complete(own, reservation, response)
    else:
        idempotency.release(db, reservation)


class AvsbRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
            except Exception as exc:
                response = response_for_exception(request, exc)
                await run_in_threadpool(_finish_error, request, response)
            else:
                session: Session | None = getattr(request.state, "db", None)
                reserved = getattr(request.state, "idempotency", None) is not None
                if session is not None and not reserved and request.method in SAFE_METHODS:
                    session.close()  # a read: nothing to commit; returns the connection
                elif session is not None or reserved:
                    response = await run_in_threadpool(_finish_ok, request, response)
            rate: RateDecision | None = getattr(request.state, "rate", None)
            if rate is not None:
                response.headers.update(rate.headers())
            return response

        return handler


def _prefix_pattern(prefix: str) -> re.Pattern[str] | None:
    if not prefix:
        return None
    parts = re.split(r"\{[^}]+\}", prefix)
    return re.compile("^" + "[^/]+".join(re.escape(part) for part in parts) + "(?:/|$)")


class AvsbRouter(APIRouter):
    """An ``APIRouter`` of ``AvsbRoute`` routes that rejects other paths by its prefix first.

    FastAPI tries every route of every included router in turn (about 10 us each); checking a
    router's prefix with one regex keeps routing cost flat as features add routes.
    """

    def __init__(self, *, prefix: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("route_class", AvsbRoute)
        super().__init__(prefix=prefix, **kwargs)
        self._prefix_re = _prefix_pattern(prefix)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._prefix_re is not None and not self._prefix_re.match(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)
