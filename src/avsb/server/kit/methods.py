"""HEAD, OPTIONS and 405 for every path, from the routes' public ``methods`` and ``matches``.

FastAPI answers a method a path's routes lack with the ``Allow`` of the first route whose path
matches, so a path served by several routes (GET and PATCH of one resource are two routes)
named only some of its methods, and it has no HEAD or OPTIONS for API routes.
``add_method_routes`` appends, after every other route, one catch-all-methods route per path:
the router only reaches it when no earlier route takes the request's method at that path
(a full match anywhere wins over a partial one), and it answers from every route of the path:
HEAD runs the GET route without sending the body (RFC 9110 9.3.2), OPTIONS answers 204 with
``Allow``, any other method 405 with ``Allow`` listing every method served at the path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Message, Receive, Scope, Send

from avsb.server.errors import MethodNotAllowed
from avsb.server.responses import error_body

_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_ROUTE_KEYS = ("route", "endpoint", "path_params")  # what matching this route put in the scope


def allow_header(methods: Iterable[str]) -> str:
    """The ``Allow`` value for the methods of the routes of one path: HEAD wherever GET is,
    OPTIONS always, in a stable order."""
    allowed = {m.upper() for m in methods} | {"OPTIONS"}
    if "GET" in allowed:
        allowed.add("HEAD")
    rank = {m: i for i, m in enumerate(_METHOD_ORDER)}
    return ", ".join(sorted(allowed, key=lambda m: (rank.get(m, len(rank)), m)))


class _OtherMethods:
    """The ASGI app of a path's catch-all route: the methods its routes lack."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = routes  # every route of the app, in the order the router tries them

    def _matching(self, scope: Scope) -> list[Route]:
        return [route for route in self._routes if route.matches(scope)[0] is not Match.NONE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "HEAD":
            as_get = {k: v for k, v in scope.items() if k not in _ROUTE_KEYS}
            as_get["method"] = "GET"
            if any(route.matches(as_get)[0] is Match.FULL for route in self._routes):
                router: Router = scope["router"]  # set by the app's router for every request
                await router(as_get, receive, _without_body(send))
                return
        allow = allow_header(m for route in self._matching(scope) for m in route.methods or ())
        if method == "OPTIONS":
            response = Response(status_code=204, headers={"Allow": allow})
        else:
            error = MethodNotAllowed(
                f"{method} is not allowed here; allowed: {allow}.", headers={"Allow": allow}
            )
            response = error_body(Request(scope), error)
        await response(scope, receive, send)


class _MethodsRoute(Route):
    """A catch-all-methods route that names itself in the scope, so request metrics label
    its answers with the path template as they label the path's own routes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def method_routes(routes: Iterable[BaseRoute]) -> list[Route]:
    """One catch-all-methods route per path of ``routes`` (plain path routes only; mounts
    answer every method themselves). Append them after every other route of the router."""
    plain = [route for route in routes if isinstance(route, Route)]
    app = _OtherMethods(plain)
    paths = dict.fromkeys(route.path for route in plain)
    return [_MethodsRoute(path, app, methods=None, include_in_schema=False) for path in paths]


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD answered by the GET route: the same status and headers (with the
    GET's ``Content-Length``), no body bytes."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sender
