"""One pure-ASGI middleware for what every response carries: request id, timing, API version,
security headers, the body-size limit, and a last-resort 500 that never leaks a stack trace."""

from __future__ import annotations

import logging
import re
import secrets
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from avsb.server.config import API_VERSIONS, LATEST_API_VERSION
from avsb.server.errors import PayloadTooLarge
from avsb.server.kit.metrics import Metrics

log = logging.getLogger("avsb.server")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ),
]


def error_messages(
    status: int, code: str, message: str, request_id: str
) -> tuple[Message, Message]:
    body = orjson.dumps(
        {"error": {"code": code, "message": message, "details": {}, "request_id": request_id}}
    )
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-error-code", code.encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class RequestEnvelopeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        rid_raw = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = rid_raw if _SANE_REQUEST_ID.match(rid_raw) else "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = request_id
        version = (
            headers.get(b"avsb-api-version", b"").decode("latin-1").strip() or LATEST_API_VERSION
        )
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                elapsed = (time.perf_counter() - started) * 1000
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"x-process-time-ms", f"{elapsed:.2f}".encode()),
                    (b"avsb-api-version", version.encode()),
                    *(h for h in SECURITY_HEADERS if h[0] not in present),
                ]
                if b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        if version not in API_VERSIONS:
            version = LATEST_API_VERSION
            start, body = error_messages(
                400,
                "unsupported_api_version",
                f"Unknown AvsB-API-Version; supported: {', '.join(API_VERSIONS)}.",
                request_id,
            )
            await send_wrapper(start)
            await send_wrapper(body)
            return
        declared = headers.get(b"content-length")
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > self.max_body
        ):
            start, body = error_messages(
                413, "payload_too_large", f"The body exceeds {self.max_body} bytes.", request_id
            )
            await send_wrapper(start)
            await send_wrapper(body)
            return

        received = [0]

        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > self.max_body:
                    raise PayloadTooLarge(f"The body exceeds {self.max_body} bytes.")
            return message

        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send_wrapper(message)

        try:
            await self.app(scope, receive_limited, send_tracking)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            if not response_started:
                start, body = error_messages(
                    500, "internal_error", "An internal error occurred.", request_id
                )
                await send_wrapper(start)
                await send_wrapper(body)
        finally:
            self._observe(scope, status_holder[0], time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        labels = (("method", scope["method"]), ("route", path), ("status", str(status)))
        self.metrics.answered(labels, (("route", path),), seconds)
