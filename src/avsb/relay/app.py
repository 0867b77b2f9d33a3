"""The relay's ASGI app: the server's evaluation handlers (OFREP, ABC, SDK config, evaluate
and exposures, event streams) inside the server's hot-path envelope, on a `RelayRuntime`;
an SDK's exposures are forwarded to the upstream rather than stored."""

from __future__ import annotations

import asyncio
import logging
import secrets

import orjson
from starlette.types import Receive, Scope, Send

from avsb.relay.state import RelayRuntime
from avsb.relay.upstream import FORWARDED_REQUEST_ID, Upstream
from avsb.server.config import Settings
from avsb.server.evaluation_api.abc_routes import ANSWERS, AbcEndpoint
from avsb.server.evaluation_api.asgi import respond
from avsb.server.evaluation_api.ofrep_routes import OfrepBulk, OfrepFlag
from avsb.server.evaluation_api.sdk_routes import SdkConfig, SdkEvaluate, SdkExposures
from avsb.server.evaluation_api.streams import build_hub, stream_handlers
from avsb.server.hotpath.envelope import Envelope, Handler
from avsb.server.hotpath.server import OFREP_FLAG_PREFIX, OFREP_FLAG_ROUTE, health
from avsb.server.kit.metrics import Metrics
from avsb.server.kit.pagination import CursorSigner

log = logging.getLogger("avsb.relay")


class RelayApp:
    """Serves one project's evaluations from the config its upstream last sent."""

    def __init__(self, settings: Settings, upstream_url: str, sdk_key: str) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.upstream: Upstream | None = None
        self.runtime = RelayRuntime(settings, sdk_key, self.metrics, self._post)
        ev = self.runtime
        self.hub = build_hub(ev, CursorSigner(secrets.token_bytes(32)), settings)
        upstream = Upstream(upstream_url, sdk_key, ev.config, self.metrics,
                            settings.relay_poll_seconds, self.hub.changed)  # fmt: skip
        self.upstream = upstream
        config = SdkConfig(ev)
        self.routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("GET", "/health"): ("/health", health),
            ("GET", "/ready"): ("/ready", self._ready),
            ("POST", "/ofrep/v1/evaluate/flags"): ("/ofrep/v1/evaluate/flags", OfrepBulk(ev)),
            ("GET", "/api/sdk/config"): ("/api/sdk/config", config),
            ("HEAD", "/api/sdk/config"): ("/api/sdk/config", config),
            ("POST", "/api/sdk/evaluate"): ("/api/sdk/evaluate", SdkEvaluate(ev)),
            ("POST", "/api/sdk/exposures"): ("/api/sdk/exposures", self._exposures),
            **{("POST", f"/abc/{name}"): (f"/abc/{name}", AbcEndpoint(ev, name, answer))
               for name, answer in ANSWERS.items()},
            **stream_handlers(ev, self.hub),
        }  # fmt: skip
        self._forward: Handler = SdkExposures(ev, upstream.forward_exposures)
        self._ofrep_flag: Handler = OfrepFlag(ev)
        self._envelope = Envelope(max_body_bytes=settings.max_body_bytes, metrics=self.metrics)

    def _post(self, org_id: str, project_id: str, events: list[object]) -> None:
        assert self.upstream is not None
        self.upstream.post_exposures(org_id, project_id, events)

    async def _exposures(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /api/sdk/exposures`, forwarded upstream under this request's id."""
        token = FORWARDED_REQUEST_ID.set(scope["state"]["request_id"])
        try:
            await self._forward(scope, receive, send)
        finally:
            FORWARDED_REQUEST_ID.reset(token)

    async def _ready(self, _scope: Scope, _receive: Receive, send: Send) -> None:
        """`GET /ready`: 200 once the relay holds the project's config, else 503."""
        loaded = self.runtime.config.current is not None
        assert self.upstream is not None
        body = orjson.dumps({"status": "ready" if loaded else "waiting_for_upstream",
                             "streaming": self.upstream.streaming})  # fmt: skip
        await respond(send, 200 if loaded else 503, body)

    async def _not_found(self, scope: Scope, _receive: Receive, send: Send) -> None:
        error = {"code": "not_found", "message": "A relay serves the evaluation routes only.",
                 "details": None, "request_id": scope["state"]["request_id"]}  # fmt: skip
        await respond(send, 404, orjson.dumps({"error": error}))

    def _match(self, scope: Scope) -> tuple[str, Handler]:
        method, path = scope["method"], scope["path"]
        found = self.routes.get((method, path))
        if found is not None:
            return found
        if method == "POST" and path.startswith(OFREP_FLAG_PREFIX):
            key = path[len(OFREP_FLAG_PREFIX) :]
            if key and "/" not in key:
                scope["path_params"] = {"key": key}
                return OFREP_FLAG_ROUTE, self._ofrep_flag
        return "unmatched", self._not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        route, handler = self._match(scope)
        await self._envelope.run(handler, route, scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        assert self.upstream is not None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.upstream.start()
                self.runtime.exposures.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.upstream.stop()
                await asyncio.to_thread(self.runtime.exposures.stop)  # forwards what is left
                await send({"type": "lifespan.shutdown.complete"})
                return
