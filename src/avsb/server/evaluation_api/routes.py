"""Mount the hot-path routes as plain Starlette routes, ahead of the FastAPI ones.

They are matched first (the router scans routes in order) and stay out of `/openapi.json`;
docs/evaluation.md documents them.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Scope

from avsb.server.evaluation_api.abc_routes import ANSWERS, AbcEndpoint
from avsb.server.evaluation_api.ofrep_routes import OfrepBulk, OfrepFlag
from avsb.server.evaluation_api.sdk_routes import SdkConfig, SdkEvaluate
from avsb.server.evaluation_api.state import EvaluationRuntime


class EvaluationRoute(Route):
    """A plain route that names itself in the scope (the request metrics label by route)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def evaluation_routes(ev: EvaluationRuntime) -> list[BaseRoute]:
    """The routes of the evaluation API, bound to one process's evaluation runtime."""
    endpoints: list[tuple[str, ASGIApp, str]] = [
        *(
            (f"/abc/{name}", AbcEndpoint(ev, name, answer), "POST")
            for name, answer in ANSWERS.items()
        ),
        ("/ofrep/v1/evaluate/flags/{key}", OfrepFlag(ev), "POST"),
        ("/ofrep/v1/evaluate/flags", OfrepBulk(ev), "POST"),
        ("/api/sdk/config", SdkConfig(ev), "GET"),
        ("/api/sdk/evaluate", SdkEvaluate(ev), "POST"),
    ]
    return [
        EvaluationRoute(path, app, methods=[method], include_in_schema=False)
        for path, app, method in endpoints
    ]
