"""A local stand-in for Slack's Web API (slack.com cannot be reached here): a threaded HTTP
server on loopback that records every call (method, headers, JSON or form body) and answers
as Slack does, ``{"ok": true, ...}``; and request signing exactly as Slack signs."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import orjson

Json = dict[str, Any]


def slack_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends: ``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<body>``
    (https://docs.slack.dev/authentication/verifying-requests-from-slack/), written from the
    documentation, not from the server's code."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass(frozen=True)
class Call:
    method: str
    headers: dict[str, str]
    body: Json

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


class SlackStandIn:
    """Answers every Web API method ``ok``; ``errors`` maps a method to error names answered
    (in order) before it succeeds again."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.errors: dict[str, list[str]] = {}
        self.channel_errors: dict[str, list[str]] = {}  # chat.postMessage errors per channel
        self.teams: dict[str, str] = {}  # OAuth code -> team id it installs
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def __enter__(self) -> SlackStandIn:
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

    def of(self, method: str, where: Callable[[Call], bool] = lambda _c: True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and where(c)]

    def wait_for(
        self, method: str, where: Callable[[Call], bool] = lambda _c: True, count: int = 1
    ) -> list[Call]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = self.of(method, where)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{method}: {len(self.of(method, where))} call(s), wanted {count}")

    def _answer(self, call: Call) -> Json:
        with self._lock:
            self.calls.append(call)
            pending = self.errors.get(call.method)
            if call.method == "chat.postMessage":
                pending = pending or self.channel_errors.get(str(call.body.get("channel")))
            if pending:
                return {"ok": False, "error": pending.pop(0)}
        body = call.body
        if call.method == "oauth.v2.access":
            team = self.teams.get(str(body.get("code")), "T_UNKNOWN")
            return {
                "ok": True, "access_token": f"xoxb-{team}-token", "token_type": "bot",
                "scope": "commands,chat:write,app_mentions:read", "bot_user_id": "UBOT",
                "app_id": "A0AVSB", "team": {"id": team, "name": f"Team {team}"},
                "authed_user": {"id": "UINSTALLER"},
            }  # fmt: skip
        if call.method == "auth.test":
            team = call.token.split("-")[1] if call.token and "-" in call.token else "T_UNKNOWN"
            return {"ok": True, "team_id": team, "team": f"Team {team}", "user_id": "UBOT",
                    "bot_id": "B0AVSB", "url": "https://example.slack.com/"}  # fmt: skip
        if call.method == "chat.postMessage":
            return {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"}
        return {"ok": True}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                kind = self.headers.get("content-type", "")
                body: Json = (
                    orjson.loads(raw or b"{}")
                    if kind.startswith("application/json")
                    else dict(parse_qsl(raw.decode()))
                )
                headers = {k.lower(): v for k, v in self.headers.items()}
                method = self.path.split("?")[0].removeprefix("/api/")
                answer = orjson.dumps(standin._answer(Call(method, headers, body)))
                self.send_response(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        return Handler
