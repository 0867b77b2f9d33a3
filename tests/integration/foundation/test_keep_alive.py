"""Idle keep-alive connections (`AVSB_KEEP_ALIVE_SECONDS`, 75 s): `avsb serve` keeps them
longer than a load balancer's idle timeout, so the balancer (or any pooled client) does not
reuse a connection the server is closing. With uvicorn's own 5 s, a client that waited 5 s
between two requests on one connection could get a reset: once in CI, a test's second call
after a slow import on PostgreSQL."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.support.servers import ServerFactory

REQUEST = b"GET /health HTTP/1.1\r\nHost: avsb\r\n\r\n"


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    conn = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30)
    return conn


def _exchange(conn: socket.socket) -> bytes:
    """Send one /health request on `conn`; its whole answer (b"" if the server had closed)."""
    conn.sendall(REQUEST)
    answer = b""
    while b'{"status":"ok"}' not in answer:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            return b""
        if not chunk:
            return answer
        answer += chunk
    return answer


@pytest.mark.parametrize(
    ("keep_alive", "idle", "kept"),
    [(None, 6.5, True), ("1", 2.5, False)],
    ids=["default-kept-past-5s", "one-second-closed"],
)
def test_idle_connection__kept_for_the_setting(
    servers: ServerFactory, keep_alive: str | None, idle: float, kept: bool
) -> None:
    env = {} if keep_alive is None else {"AVSB_KEEP_ALIVE_SECONDS": keep_alive}
    with servers.process(**env) as live, _connect(live.url) as conn:
        first = _exchange(conn)
        assert first.startswith(b"HTTP/1.1 200")
        # `avsb serve` does not name its server software (uvicorn's `server` header is off).
        assert b"\r\nserver:" not in first.lower()
        assert b"\r\ndate:" in first.lower()
        time.sleep(idle)
        second = _exchange(conn)
    if kept:
        assert second.startswith(b"HTTP/1.1 200"), second
    else:
        assert second == b""
