"""A real webhook receiver on loopback, and an independent Standard Webhooks verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (monotonic seconds)
    wall: float = field(default_factory=time.time)  # the same, on the wall clock


def verify_signature(secret: str, received: Received) -> bool:
    """Standard Webhooks verification, written from the spec, not from the server's code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + received.body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    if abs(time.time() - int(timestamp)) > 300:
        return False
    signatures = received.headers["webhook-signature"].split(" ")
    return any(
        version == "v1" and hmac.compare_digest(sig, expected)
        for version, _, sig in (s.partition(",") for s in signatures)
    )


Answer = int | tuple[int, dict[str, str]]  # a status, or a status and response headers


class Receiver:
    """Answers each POST with the next status of ``statuses`` (the last one repeats); an
    entry may be ``(status, headers)`` to send headers such as ``Retry-After`` with it."""

    def __init__(self, statuses: list[Answer] | None = None) -> None:
        self.statuses: list[Answer] = list(statuses or [200])
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _next_status(self) -> Answer:
        with self._lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body))
                status = receiver._next_status()
                status, extra = status if isinstance(status, tuple) else (status, {})
                answer = f"status {status}".encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        return Handler

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """The requests so far, once there are at least ``count`` (else AssertionError)."""
        wait_until(lambda: len(self.received) >= count, timeout, f"{count} requests")
        with self._lock:
            return list(self.received)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
