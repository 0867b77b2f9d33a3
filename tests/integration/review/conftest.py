"""A stand-in OpenAI-compatible endpoint on loopback, and a server configured to use it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

LLM_KEY = "sk-review-test-0123456789"
LLM_MODEL = "stand-in-model"
LLM_TIMEOUT = 1.0


@dataclass
class StandIn:
    """Answers ``POST /v1/chat/completions`` as told by ``mode`` and records every request."""

    url: str = ""
    mode: str = "ok"  # ok | slow | error | garbage
    reply: str = '{"items": ["Check novelty effects: run for two full weeks."]}'
    slow_seconds: float = 4.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, mode: str = "ok") -> None:
        with self.lock:
            self.requests.clear()
            self.mode = mode


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with stand_in.lock:
                stand_in.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
                )
                mode = stand_in.mode
            if mode == "slow":
                time.sleep(stand_in.slow_seconds)
            if mode == "error":
                self._send(500, b'{"error": "overloaded"}')
                return
            content = "not a completion" if mode == "garbage" else stand_in.reply
            answer = {"choices": [{"message": {"role": "assistant", "content": content}}]}
            self._send(200, json.dumps(answer if mode != "garbage" else {"x": 1}).encode())

        def _send(self, status: int, payload: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the slow case: the caller gave up, as it should

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
            return

    return Handler


@pytest.fixture(scope="package")
def stand_in() -> Iterator[StandIn]:
    found = StandIn()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    httpd.daemon_threads = True
    found.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield found
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="package")
def llm_server(servers: ServerFactory, stand_in: StandIn) -> LiveServer:
    return servers.start_shared(
        llm_url=f"{stand_in.url}/v1",
        llm_model=LLM_MODEL,
        llm_api_key=LLM_KEY,
        llm_timeout_seconds=LLM_TIMEOUT,
    )


@pytest.fixture
def llm_api(llm_server: LiveServer, stand_in: StandIn) -> Iterator[ApiClient]:
    stand_in.reset()
    with new_org_client(llm_server) as client:
        yield client
