"""The route class of every API route: one transaction per request, committed here.

The endpoint's work, the idempotency record of its answer and the audit events all commit in
one transaction after the answer is built, so a failure anywhere leaves nothing half-written.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from avsb.server.auth.ratelimit import RateDecision
from avsb.server.deps import SAFE_METHODS
from avsb.server.kit import idempotency
from avsb.server.responses import response_for_exception
from avsb.server.runtime import runtime_of

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


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


def _request_only(dep: Dependant) -> bool:
    """A dependency called with just the request: no parameters of its own, no sub-dependencies,
    not a generator (nothing to close after the response)."""
    call = dep.call
    return (
        call is not None
        and dep.request_param_name is not None
        and not (dep.path_params or dep.query_params or dep.header_params or dep.cookie_params)
        and not (dep.body_params or dep.dependencies)
        and dep.security_scopes_param_name is None
        and dep.response_param_name is None
        and dep.background_tasks_param_name is None
        and not inspect.isgeneratorfunction(call)
        and not inspect.isasyncgenfunction(call)
        and inspect.iscoroutinefunction(call)
    )


def _effective(route: APIRoute) -> tuple[Dependant, Any]:
    """The dependant and dependency-overrides provider FastAPI builds this handler for.

    Recent FastAPI builds a route's handler once per ``include_router``, in an inclusion
    context that may add dependencies and supplies the app as overrides provider.
    """
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant):
            return dependant, getattr(context, "dependency_overrides_provider", None)
    return route.dependant, route.dependency_overrides_provider


def _direct_handler(dep: Dependant) -> Handler | None:
    """A handler that passes a simple endpoint its arguments directly, or None.

    FastAPI's general dependency solver costs about a third of a millisecond per request.
    Routes whose parameters are only plain ``str`` path parameters, the request, and
    dependencies of the request alone (the auth gate ``require(...)``, the session), and that
    return a ``Response`` themselves, need none of it: their arguments are looked up here.
    Any other route keeps FastAPI's handler.
    """
    endpoint = dep.call
    if endpoint is None:
        return None
    if dep.query_params or dep.header_params or dep.cookie_params or dep.body_params:
        return None
    if dep.response_param_name or dep.background_tasks_param_name:
        return None
    if dep.security_scopes_param_name or dep.websocket_param_name:
        return None
    if dep.http_connection_param_name:
        return None
    try:
        returns = typing.get_type_hints(endpoint).get("return")
    except (NameError, TypeError):
        return None
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None
    paths: list[str] = []
    for field in dep.path_params:
        if field.field_info.annotation is not str or field.field_info.metadata:
            return None
        if field.alias != field.name:
            return None
        paths.append(field.name)
    if not all(_request_only(sub) for sub in dep.dependencies):
        return None
    gates = [(sub.name, sub.call) for sub in dep.dependencies]
    request_name = dep.request_param_name
    is_async = inspect.iscoroutinefunction(endpoint)

    async def handler(request: Request) -> Response:
        path_params = request.path_params
        kwargs: dict[str, Any] = {name: path_params[name] for name in paths}
        if request_name is not None:
            kwargs[request_name] = request
        solved: dict[Any, Any] = {}
        for name, call in gates:
            if call not in solved:
                solved[call] = await call(request)  # type: ignore[misc]
            if name is not None:
                kwargs[name] = solved[call]
        if is_async:
            response: Response = await endpoint(**kwargs)
        else:
            response = await run_in_threadpool(endpoint, **kwargs)
        return response

    return handler


class AvsbRoute(APIRoute):
    """An API route whose answer commits (or rolls back) the request's one transaction."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        secret = idempotency.carries_secret(self.response_model)
        dependant, provider = _effective(self)
        direct = _direct_handler(dependant)

        async def inner(request: Request) -> Response:
            if direct is None or getattr(provider, "dependency_overrides", None):
                return await full(request)
            return await direct(request)

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
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


_NAMED_GROUP = re.compile(r"\(\?P<[^>]+>")


def _path_filter(routes: list[BaseRoute]) -> re.Pattern[str] | None:
    """One regex matching exactly the paths some route here matches (whatever the method);
    None when a route (a mount, a host) has no plain path regex."""
    patterns = []
    for route in routes:
        regex = getattr(route, "path_regex", None)
        if not isinstance(route, Route) or not isinstance(regex, re.Pattern):
            return None
        patterns.append(_NAMED_GROUP.sub("(?:", regex.pattern))
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


class AvsbRouter(APIRouter):
    """An ``APIRouter`` of ``AvsbRoute`` routes that rejects paths none of its routes serves
    with one regex, before FastAPI tries its routes one by one (a few microseconds each, for
    every router ahead of the one that serves the request)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", AvsbRoute)
        super().__init__(**kwargs)
        self._filter: tuple[int, re.Pattern[str] | None] = (-1, None)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        count, regex = self._filter
        if count != len(self.routes):  # built on first use, rebuilt if routes were added
            regex = _path_filter(self.routes)
            self._filter = (len(self.routes), regex)
        if regex is not None and not regex.match(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)
