"""The envelope of the hot paths: request id, timing, API version, security headers, the
body-size limit, request metrics and a last-resort 500, with every constant header encoded
once at import.

It writes the same headers and errors as the management app's `RequestEnvelopeMiddleware`
(the contract is one API), without its generality: hot handlers never set a security or
cache header themselves, so the constant ones are appended as they are.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Scope, Send

from avsb.server.config import API_VERSIONS, LATEST_API_VERSION
from avsb.server.errors import PayloadTooLarge
from avsb.server.kit.metrics import Labels, Metrics
from avsb.server.middleware import SECURITY_HEADERS, error_messages

log = logging.getLogger("avsb.server")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
Header = tuple[bytes, bytes]

_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
CONSTANT_HEADERS: tuple[Header, ...] = (*SECURITY_HEADERS, (b"cache-control", b"no-store"))
_VERSION_HEADERS = {v.encode(): (b"avsb-api-version", v.encode()) for v in API_VERSIONS}
_LATEST = _VERSION_HEADERS[LATEST_API_VERSION.encode()]


class Envelope:
    """Runs one hot handler inside the envelope."""

    def __init__(self, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.max_body = max_body_bytes
        self.metrics = metrics
        # (method, route template, status) -> (counter labels, histogram labels)
        self._labels: dict[tuple[str, str, int], tuple[Labels, Labels]] = {}

    async def run(self, handler: Handler, route: str, scope: Scope, receive: Receive,
                  send: Send) -> None:  # fmt: skip
        started = time.perf_counter()
        rid = version = length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value
            elif name == b"avsb-api-version":
                version = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if rid is None or not _SANE_REQUEST_ID.match(rid):
            # Unique, not secret: the process's PRNG spares a getrandom() call per request.
            rid = b"req_%024x" % random.getrandbits(96)
        request_id = rid.decode()
        scope.setdefault("state", {})["request_id"] = request_id
        asked = b"" if version is None else version.strip()
        version_header = _VERSION_HEADERS.get(asked) if asked else _LATEST
        status = 500
        response_started = False

        async def send_enveloped(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                elapsed = b"%.2f" % ((time.perf_counter() - started) * 1000)
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", rid),
                    (b"x-process-time-ms", elapsed),
                    version_header or _LATEST,
                    *CONSTANT_HEADERS,
                ]
            await send(message)

        try:
            if version_header is None:
                supported = ", ".join(API_VERSIONS)
                message = f"Unknown AvsB-API-Version; supported: {supported}."
                for part in error_messages(400, "unsupported_api_version", message, request_id):
                    await send_enveloped(part)
                return
            declared = length is not None and length.isascii() and length.isdigit()
            if declared and int(length or b"0") > self.max_body:
                message = f"The body exceeds {self.max_body} bytes."
                for part in error_messages(413, "payload_too_large", message, request_id):
                    await send_enveloped(part)
                return
            # A declared length within the limit bounds the body (the server reads exactly
            # that many bytes); only a body of unknown length is counted as it arrives.
            limited = receive if declared and not chunked else self._limited(receive)
            await handler(scope, limited, send_enveloped)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            if not response_started:
                message = "An internal error occurred."
                for part in error_messages(500, "internal_error", message, request_id):
                    await send_enveloped(part)
        finally:
            self._observe(scope["method"], route, status, time.perf_counter() - started)

    def _limited(self, receive: Receive) -> Receive:
        """`receive`, raising PayloadTooLarge once the body read exceeds the limit."""
        received = 0
        limit = self.max_body

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"The body exceeds {limit} bytes.")
            return message

        return receive_limited

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = self._labels.get((method, route, status))
        if labels is None:  # a few dozen combinations: built once each
            counted = (("method", method), ("route", route), ("status", str(status)))
            labels = self._labels[method, route, status] = (counted, (("route", route),))
        self.metrics.answered(labels[0], labels[1], seconds)
