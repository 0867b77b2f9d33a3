"""Finding the route of a request by its path's literal segments instead of trying every route.

FastAPI tries the routes of each included router in turn, and matches the chosen router's
routes twice; the cost grows with every router ahead of the one that serves the request
(measured: 16 us for /health, 35 us for a project, 88 us for an experiment's results, and
about twice that under load). ``RouteIndex`` sits in front of the included routers and
finds the same route with a walk down a tree of path segments.

It picks exactly the route FastAPI would: the candidates the tree yields are a superset of
the routes that can match (a segment holding a parameter matches any segment), each is
confirmed with the route's own ``matches`` in the routers' order, and the first full match
wins. No route, a redirect to a trailing slash and dependency overrides in tests are left
to FastAPI's own routing behind it.

A path that is served, but not with the request's method, is answered here, from every route
of that path (FastAPI would only consult the first route whose path matches, so its ``Allow``
missed the methods of the others): HEAD runs the GET route without sending the body
(RFC 9110 9.3.2), OPTIONS answers 204 with ``Allow``, any other method 405 with ``Allow``
listing every method served at the path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Message, Receive, Scope, Send

from avsb.server.errors import MethodNotAllowed
from avsb.server.responses import error_body

_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_DISPATCH = "avsb.dispatch"  # scope key: how ``handle`` answers a method the routes lack


def allow_header(methods: Iterable[str]) -> str:
    """The ``Allow`` value for the methods of the routes of one path: HEAD wherever GET is,
    OPTIONS always, in a stable order."""
    allowed = {m.upper() for m in methods} | {"OPTIONS"}
    if "GET" in allowed:
        allowed.add("HEAD")
    rank = {m: i for i, m in enumerate(_METHOD_ORDER)}
    return ", ".join(sorted(allowed, key=lambda m: (rank.get(m, len(rank)), m)))


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    routes: list[tuple[int, Route]] = field(default_factory=list)


def _segments(path: str) -> list[str]:
    return path.split("/")[1:]


class RouteIndex(BaseRoute):
    """The routes of some routers, indexed by path segments; see the module docstring.

    ``routes`` must be given in the order FastAPI tries them. Indexing stops at the first
    route that is not a plain path route (a mount, a nested router): those and the routes
    after them are found by FastAPI's routing alone, which keeps first-match order intact.
    ``bypass`` returns True while requests must take FastAPI's routing (e.g. while the app
    has dependency overrides, which only FastAPI's included-router context applies).
    """

    def __init__(self, routes: Iterable[BaseRoute], *, bypass: Callable[[], bool]) -> None:
        self._root = _Node()
        self._bypass = bypass
        indexed: list[Route] = []
        for order, route in enumerate(routes):
            if not isinstance(route, Route):
                break
            indexed.append(route)
            node = self._root
            for segment in _segments(route.path):
                if "{" in segment:
                    node.param = node.param or _Node()
                    node = node.param
                else:
                    node = node.literal.setdefault(segment, _Node())
            node.routes.append((order, route))
        self.routes: tuple[Route, ...] = tuple(indexed)

    def _candidates(self, path: str) -> list[tuple[int, Route]]:
        frontier = [self._root]
        for segment in _segments(path):
            following: list[_Node] = []
            for node in frontier:
                child = node.literal.get(segment)
                if child is not None:
                    following.append(child)
                if node.param is not None and segment:
                    following.append(node.param)
            if not following:
                return []
            frontier = following
        if len(frontier) == 1:
            return frontier[0].routes
        return sorted(entry for node in frontier for entry in node.routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or self._bypass():
            return Match.NONE, {}
        partial: list[tuple[Route, Scope]] = []
        for _, route in self._candidates(scope["path"]):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                child_scope.setdefault("route", route)  # FastAPI's routes name themselves
                child_scope[_DISPATCH] = None
                return match, child_scope
            if match is Match.PARTIAL:
                partial.append((route, child_scope))
        if not partial:
            return Match.NONE, {}
        return Match.FULL, self._other_method(scope, partial)

    @staticmethod
    def _other_method(scope: Scope, partial: list[tuple[Route, Scope]]) -> Scope:
        """The child scope for a path whose routes do not take the request's method."""
        if scope["method"] == "HEAD":
            as_get = {**scope, "method": "GET"}
            for route, _ in partial:
                match, child_scope = route.matches(as_get)
                if match is Match.FULL:
                    child_scope.setdefault("route", route)
                    child_scope[_DISPATCH] = "head"
                    return child_scope
        methods = [m for route, _ in partial for m in (route.methods or ())]
        route, child_scope = partial[0]
        child_scope.setdefault("route", route)
        child_scope[_DISPATCH] = ("allow", allow_header(methods))
        return child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope["route"]  # the route ``matches`` found
        how = scope.get(_DISPATCH)
        if how is None:
            await route.handle(scope, receive, send)
        elif how == "head":
            await route.handle({**scope, "method": "GET"}, receive, _without_body(send))
        else:
            allow: str = how[1]
            if scope["method"] == "OPTIONS":
                response = Response(status_code=204, headers={"Allow": allow})
            else:
                error = MethodNotAllowed(
                    f"{scope['method']} is not allowed here; allowed: {allow}.",
                    headers={"Allow": allow},
                )
                response = error_body(Request(scope), error)
            await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the routers behind answer for their routes


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD answered by the GET route: the same status and headers (with the
    GET's ``Content-Length``), no body bytes."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sender
