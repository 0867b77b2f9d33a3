"""`AvsbServer`: the process's ASGI app. Hot paths are matched by exact method and path (one
dict look-up; the OFREP flag route and event ingestion by their path's segments) and answered
by plain ASGI handlers inside the hot envelope; everything else,
including lifespan, a hot path's other methods (405 with `Allow`) and trailing-slash
redirects, goes to the management app unchanged.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from avsb.server.auth.proxies import TrustedProxies, parse_networks
from avsb.server.evaluation_api.abc_routes import ANSWERS, AbcEndpoint
from avsb.server.evaluation_api.ofrep_routes import OfrepBulk, OfrepFlag
from avsb.server.evaluation_api.sdk_routes import SdkConfig, SdkEvaluate, SdkExposures
from avsb.server.evaluation_api.streams import stream_routes
from avsb.server.hotpath.cors import ALLOW_KEY, Cors
from avsb.server.hotpath.envelope import Envelope, Handler
from avsb.server.hotpath.ingest import IngestEvents
from avsb.server.hotpath.ingest import match as ingestion_route
from avsb.server.runtime import Runtime

OFREP_FLAG_PREFIX = "/ofrep/v1/evaluate/flags/"
OFREP_FLAG_ROUTE = OFREP_FLAG_PREFIX + "{key}"
_HEALTH_HEADERS = ((b"content-type", b"application/json"), (b"content-length", b"15"))
_HEALTH_BODY = {"type": "http.response.body", "body": b'{"status":"ok"}'}


async def health(_scope: Scope, _receive: Receive, send: Send) -> None:
    """`GET /health`: the process answers (liveness; /readyz checks the stores)."""
    await send({"type": "http.response.start", "status": 200, "headers": list(_HEALTH_HEADERS)})
    await send(_HEALTH_BODY)


def hot_routes(rt: Runtime) -> dict[tuple[str, str], tuple[str, Handler]]:
    """(method, path) -> (route label, handler) of every exactly-matched hot path."""
    ev = rt.evaluation
    routes: dict[tuple[str, str], tuple[str, Handler]] = {("GET", "/health"): ("/health", health)}
    for name, answer in ANSWERS.items():
        path = f"/abc/{name}"
        routes["POST", path] = (path, AbcEndpoint(ev, name, answer))
    config = SdkConfig(ev)
    fixed: list[tuple[str, str, Handler]] = [
        ("POST", "/ofrep/v1/evaluate/flags", OfrepBulk(ev)),
        ("GET", "/api/sdk/config", config),
        ("HEAD", "/api/sdk/config", config),  # as a Starlette GET route: the body is dropped
        ("POST", "/api/sdk/evaluate", SdkEvaluate(ev)),
        ("POST", "/api/sdk/exposures", SdkExposures(ev, rt.ingestor.ingest_exposures)),
    ]
    for method, path, handler in fixed:
        routes[method, path] = (path, handler)
    routes.update(stream_routes(rt))  # server-sent events of config versions
    return routes


class AvsbServer:
    """The process's ASGI app: the hot paths in front of the management app."""

    def __init__(self, management: ASGIApp, runtime: Runtime) -> None:
        self.management = management
        self.runtime = runtime
        settings = runtime.settings
        self._routes = hot_routes(runtime)
        self._ofrep_flag: Handler = OfrepFlag(runtime.evaluation)
        self._ingest: Handler = IngestEvents(runtime)
        self._cors = Cors(runtime.evaluation.origins)
        self._cors_paths = frozenset(p for _, p in self._routes if p != "/health")
        # `Allow` of an OPTIONS answer: the route's own methods (RFC 9110 section 10.2.1)
        methods: dict[str, set[str]] = {OFREP_FLAG_ROUTE: {"POST"}}
        for method, path in self._routes:
            methods.setdefault(path, set()).update(
                {method, "HEAD"} if method == "GET" else {method}
            )
        order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        self._allow = {
            path: ", ".join([m for m in order if m in found] + ["OPTIONS"]).encode()
            for path, found in methods.items()
        }
        self._envelope = Envelope(max_body_bytes=settings.max_body_bytes, metrics=runtime.metrics)
        networks = parse_networks(settings.trusted_proxies)
        self._proxies = TrustedProxies(networks) if networks else None

    def _match(self, scope: Scope) -> tuple[str, Handler] | None:
        if scope["type"] != "http" or scope.get("root_path"):
            return None
        method, path = scope["method"], scope["path"]
        found = self._routes.get((method, path))
        if found is not None:
            return found
        if method != "POST":
            return None
        if path.startswith(OFREP_FLAG_PREFIX):
            key = path[len(OFREP_FLAG_PREFIX) :]
            if key and "/" not in key:
                scope["path_params"] = {"key": key}
                return OFREP_FLAG_ROUTE, self._ofrep_flag
            return None
        ingestion = ingestion_route(path)
        return None if ingestion is None else (ingestion[0], self._ingest)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope)
        if found is None:
            preflight = self._preflight_route(scope)
            if preflight is None:
                await self.management(scope, receive, send)
            else:
                scope[ALLOW_KEY] = self._allow[preflight]
                await self._envelope.run(self._cors.preflight, preflight, scope, receive, send)
            return
        if self._proxies is not None:
            self._client_behind_proxies(scope, self._proxies)
        route, handler = found
        if handler is self._ingest:  # a management route: same-origin, no CORS headers
            await self._envelope.run(handler, route, scope, receive, send)
            return
        await self._envelope.run(handler, route, scope, receive, self._cors.wrap(scope, send))

    def _preflight_route(self, scope: Scope) -> str | None:
        """The route label of a CORS preflight (`OPTIONS`) on an evaluation route, or None."""
        if scope["type"] != "http" or scope["method"] != "OPTIONS" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if path in self._cors_paths:
            return path
        key = path.removeprefix(OFREP_FLAG_PREFIX)
        return OFREP_FLAG_ROUTE if key != path and key and "/" not in key else None

    @staticmethod
    def _client_behind_proxies(scope: Scope, proxies: TrustedProxies) -> None:
        """As `ClientAddressMiddleware` does for the management app."""
        client = scope.get("client")
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        if client and forwarded:
            address = proxies.client(str(client[0]), forwarded)
            if address != client[0]:
                scope["client"] = (address, 0)
