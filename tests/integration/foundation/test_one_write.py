"""Each answer leaves `avsb serve` in one socket write (avsb.server.transport).

A client blocked in `recv` when the server writes gets what that write carried: with the
status line and headers written apart from the body (uvicorn's own protocol), the first
`recv` of some answers holds the headers alone. Here every first `recv` must hold the whole
answer, on one keep-alive connection, for a hot-path answer and a management one.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from tests.support.servers import ServerFactory

ROUNDS = 40


def _first_recv(conn: socket.socket, request: bytes) -> bytes:
    conn.sendall(request)
    return conn.recv(65536)


def _is_whole(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    lengths = [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    ]
    return len(lengths) == 1 and int(lengths[0]) == len(body) > 0


def test_every_answer__arrives_in_one_write(servers: ServerFactory) -> None:
    requests = {
        "hot path": b"GET /health HTTP/1.1\r\nHost: avsb\r\n\r\n",
        "management": b"GET /api/orgs HTTP/1.1\r\nHost: avsb\r\n\r\n",  # 401, JSON error
    }
    with servers.process() as live:
        parts = urlsplit(live.url)
        with socket.create_connection((parts.hostname or "", parts.port or 80), 30) as conn:
            split = dict.fromkeys(requests, 0)
            for _ in range(ROUNDS):
                for name, request in requests.items():
                    answer = _first_recv(conn, request)
                    assert answer.startswith(b"HTTP/1.1 "), answer
                    if not _is_whole(answer):
                        split[name] += 1
                        conn.recv(65536)  # the rest of it, before the next request
    assert split == dict.fromkeys(requests, 0)
