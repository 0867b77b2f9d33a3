"""CORS of the evaluation routes (ABC, OFREP, `/api/sdk/*`), so browser SDKs on other
origins can call them; the management API stays same-origin.

Which origins may read an answer is set per SDK key (`allowed_origins`; null: the instance
default `AVSB_CORS_ORIGINS`). A preflight carries no key, so it is answered for an origin that
any live SDK key of the instance (or the default) allows; the request itself then gets
`Access-Control-Allow-Origin` only when its own key allows the origin (a request whose key is
unknown gets the preflight's answer, so the browser can read its 401; the OFREP event stream,
whose key is named by its signed `token`, follows the key it verified). Credentials are never
allowed: SDK keys travel in headers, not cookies. Every header is encoded once; a request
without `Origin` costs one scan of its headers.

The origins of every live SDK key are held by `evaluation_api.origins.OriginTable`.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from avsb.server.evaluation_api.origins import SCOPE_KEY_ID, OriginTable
from avsb.server.kit.origins import WILDCARD

MAX_AGE_SECONDS = 600
ALLOW_METHODS = b"GET, HEAD, POST, OPTIONS"
ALLOW_HEADERS = (
    b"Authorization, X-API-Key, Content-Type, If-None-Match, X-Ak, X-Et, X-Es, "
    b"AvsB-API-Version, X-Request-Id"
)
# What a browser client may read besides the safelisted headers: the OFREP web provider reads
# ETag (bulk polling) and Retry-After (429 / 503); the rest is AvsB's envelope.
EXPOSE_HEADERS = (
    b"ETag, Retry-After, X-Request-Id, AvsB-API-Version, X-Process-Time-Ms, "
    b"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Error-Code"
)
_VARY = (b"vary", b"Origin")
_PREFLIGHT_VARY = (
    b"vary",
    b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
)
_EXPOSE = (b"access-control-expose-headers", EXPOSE_HEADERS)
_PREFLIGHT_CONSTANT = (
    (b"access-control-allow-methods", ALLOW_METHODS),
    (b"access-control-allow-headers", ALLOW_HEADERS),
    (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
    _PREFLIGHT_VARY,
)
_ANY_ORIGIN = (b"access-control-allow-origin", b"*")


ALLOW_KEY = "avsb.allow"  # scope key: the `Allow` value of the route an OPTIONS is for


class Cors:
    """Answers preflights and adds the CORS headers of the evaluation routes."""

    def __init__(self, table: OriginTable) -> None:
        self.table = table

    def wrap(self, scope: Scope, send: Send) -> Send:
        """`send`, adding the CORS headers when the request has an `Origin` header."""
        origin_raw = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin_raw = value
                break
        if origin_raw is None:
            return send
        found_origin: bytes = origin_raw
        table = self.table

        async def send_cors(message: Message) -> None:
            if message["type"] == "http.response.start":  # the route has verified its key
                origins = table.for_request(dict(scope["headers"]), scope.get(SCOPE_KEY_ID))
                origin = found_origin.decode("latin-1")
                if WILDCARD in origins:
                    extra = [_ANY_ORIGIN, _EXPOSE, _VARY]
                elif origin in origins:
                    extra = [(b"access-control-allow-origin", found_origin), _EXPOSE, _VARY]
                else:
                    extra = [_VARY]
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        return send_cors

    async def preflight(self, scope: Scope, _receive: Receive, send: Send) -> None:
        """`OPTIONS` on an evaluation route: 204 with the allowed methods and headers when
        the origin is allowed by some SDK key or the default; 204 without them otherwise
        (the browser then refuses the request)."""
        origin_raw = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin_raw = value
                break
        headers: list[tuple[bytes, bytes]] = [(b"allow", scope.get(ALLOW_KEY, ALLOW_METHODS))]
        if origin_raw is not None:
            origin = origin_raw.decode("latin-1")
            if self.table.preflight_allows(origin):
                headers += [(b"access-control-allow-origin", origin_raw), *_PREFLIGHT_CONSTANT]
            else:
                headers.append(_PREFLIGHT_VARY)
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
