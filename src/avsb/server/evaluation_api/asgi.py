"""Plain-ASGI plumbing of the hot-path routes: no pydantic, no dependency injection.

A route reads its headers from the ASGI scope, its body from `receive`, and answers bytes
it serialised itself with orjson. The shared middleware still wraps it (request id, timing,
version, security headers, body limit, metrics).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import orjson
from starlette.types import Message, Receive, Scope, Send

from avsb.server.auth.ratelimit import RateDecision
from avsb.server.errors import AvsbError

HeaderList = list[tuple[bytes, bytes]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
JSON_TYPE = (b"content-type", b"application/json")


class EvalRequest:
    """The parts of an HTTP request the evaluation routes read."""

    __slots__ = ("headers", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.headers: dict[bytes, bytes] = dict(scope["headers"])

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    @property
    def ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else "unknown"

    @property
    def request_id(self) -> str | None:
        rid: str | None = self.scope.get("state", {}).get("request_id")
        return rid

    def token(self) -> str | None:
        """The secret from `Authorization: Bearer` or `X-API-Key`."""
        auth = self.header(b"authorization")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        key = self.header(b"x-api-key")
        return key.strip() if key and key.strip() else None

    def path_param(self, name: str) -> str:
        return str(self.scope.get("path_params", {}).get(name, ""))


async def read_body(receive: Receive) -> bytes:
    """The whole request body (the middleware enforces the size limit while it is read)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def rate_headers(decision: RateDecision | None) -> HeaderList:
    """`RateDecision.headers()` as ASGI pairs, formatted straight to bytes (per request)."""
    if decision is None:
        return []
    out = [
        (b"x-ratelimit-limit", b"%d" % decision.limit),
        (b"x-ratelimit-remaining", b"%d" % decision.remaining),
        (b"x-ratelimit-reset", b"%d" % decision.reset_at),
    ]
    if not decision.allowed:
        out.append((b"retry-after", b"%d" % decision.retry_after))
    return out


def error_headers(error: AvsbError) -> HeaderList:
    return [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]


async def respond(
    send: Send, status: int, body: bytes | Iterable[bytes], headers: HeaderList | None = None
) -> None:
    """Send a JSON answer; `body` may be several chunks (sent without joining them)."""
    if isinstance(body, bytes):  # the common case: one start, one body, nothing else built
        pairs = [JSON_TYPE, (b"content-length", b"%d" % len(body))]
        if headers:
            pairs += headers
        await send({"type": "http.response.start", "status": status, "headers": pairs})
        await send({"type": "http.response.body", "body": body})
        return
    parts = list(body)
    length = sum(len(p) for p in parts)
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [JSON_TYPE, (b"content-length", str(length).encode()), *(headers or ())],
    }
    await send(start)
    last = len(parts) - 1
    for i, part in enumerate(parts):
        await send({"type": "http.response.body", "body": part, "more_body": i < last})


async def not_modified(send: Send, etag: str, headers: HeaderList | None = None) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": 304,
        "headers": [(b"etag", etag.encode()), *(headers or ())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b""})


def envelope_error(request: EvalRequest, error: AvsbError) -> tuple[bytes, HeaderList]:
    """The AvsB error envelope of `error` and its headers (`X-Error-Code` first)."""
    body = orjson.dumps(
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "details": error.details,
                "request_id": request.request_id,
            }
        }
    )
    return body, [(b"x-error-code", error.code.encode()), *error_headers(error)]
