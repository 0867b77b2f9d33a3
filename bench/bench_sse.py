"""How fast a config edit reaches many open event streams, and what a stream costs in memory.

Starts `avsb serve` (SQLite metadata, or `--pg-url`), makes a project with a flag and an SDK
key, then, each round: opens `--clients` streams of `GET /api/sdk/config/stream` (raw
asyncio sockets in this process, one connection each), waits until every stream has its first
event, reads the server's RSS (a fresh server each round), edits the flag through the
management API and times, per stream, from sending the PATCH to the arrival of the new
version's event. Printed per round:
p50 / p99 / max of those delays, streams that missed the event, the RSS growth per open
stream, and the load average.

    .venv/bin/python -m bench.bench_sse [--clients 1000] [--rounds 3] [--pg-url ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from statistics import median, quantiles

import httpx

from bench._harness import ADMIN, RELAXED_LIMITS, server, server_pid

EVENT = b"event: config"


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _setup(url: str) -> tuple[str, str, str]:
    """(SDK key, flag path, org path) of a new project with one flag."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    org = admin.get("/api/orgs").json()["data"][0]["id"]
    base = f"/api/orgs/{org}"
    name = f"sse-{uuid.uuid4().hex[:8]}"  # a PostgreSQL database outlives a round's server
    project = admin.post(base + "/projects", json={"key": name, "name": "SSE"}).json()["data"]
    flag = admin.post(base + "/flags", json={"project_id": project["id"], "key": "banner",
                                             "type": "string", "default_value": "v0"})  # fmt: skip
    assert flag.status_code == 201, flag.text
    key = admin.post(base + "/tokens", json={"name": "sse", "kind": "sdk",
                                             "project_id": project["id"]})  # fmt: skip
    assert key.status_code == 201, key.text
    deadline = time.monotonic() + 30
    while (
        httpx.get(url + "/api/sdk/config", headers=_auth(key.json()["data"]["token"])).status_code
        != 200
    ):
        assert time.monotonic() < deadline, "config never compiled"
        time.sleep(0.05)
    return key.json()["data"]["token"], f"{base}/flags/{flag.json()['data']['id']}", base


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Client:
    """One stream on a raw socket: counts config events and stamps the arrival of each."""

    def __init__(self) -> None:
        self.events: list[float] = []
        self.first = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, host: str, port: int, key: str) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        self.writer = writer
        request = (
            f"GET /api/sdk/config/stream HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
        )
        writer.write(request.encode())
        tail = b""
        while chunk := await reader.read(65536):
            now = time.monotonic()
            data = tail + chunk
            for _ in range(data.count(EVENT) - tail.count(EVENT)):
                self.events.append(now)
            tail = data[-len(EVENT) :]
            if self.events:
                self.first.set()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _round(url: str, pid: int, key: str, flag_path: str, clients: int, value: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    rss_before = _rss_kib(pid)
    streams = [Client() for _ in range(clients)]
    tasks = []
    for i, c in enumerate(streams):
        tasks.append(asyncio.create_task(c.run(host, int(port), key)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # let the listen backlog drain
    await asyncio.wait_for(asyncio.gather(*(c.first.wait() for c in streams)), 120)
    await asyncio.sleep(1.0)
    rss_open = _rss_kib(pid)
    async with httpx.AsyncClient(base_url=url, headers=_auth(ADMIN), timeout=30) as admin:
        written = time.monotonic()  # before the PATCH: its own time counts too
        r = await admin.patch(flag_path, json={"default_value": value})
        assert r.status_code == 200, r.text
    deadline = time.monotonic() + 10
    while any(len(c.events) < 2 for c in streams) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    delays = sorted((c.events[1] - written) * 1000 for c in streams if len(c.events) >= 2)
    missed = clients - len(delays)
    for c in streams:
        c.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    p99 = quantiles(delays, n=100)[98] if len(delays) >= 2 else float("nan")
    per_stream = (rss_open - rss_before) / clients
    print(
        f"  {clients} streams: edit -> event p50 {median(delays):.0f} ms, p99 {p99:.0f} ms, "
        f"max {delays[-1]:.0f} ms, missed {missed}; RSS {rss_before / 1024:.0f} -> "
        f"{rss_open / 1024:.0f} MiB = {per_stream:.1f} KiB per stream; load {_load()}"
    )
    await asyncio.sleep(2.0)  # the server notices the disconnects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    env = {**RELAXED_LIMITS, "AVSB_SSE_MAX_STREAMS_PER_KEY": str(args.clients * 2),
           "AVSB_EVALUATION_RATE_LIMIT_PER_MINUTE": "1000000000",
           "AVSB_EVALUATION_RATE_LIMIT_BURST": "100000000"}  # fmt: skip
    print(f"avsb serve ({'PostgreSQL' if args.pg_url else 'SQLite'}), load {_load()}")
    for n in range(args.rounds):  # a fresh server each round: RSS growth is the streams' own
        with server(args.pg_url, **env) as url:
            key, flag_path, _ = _setup(url)
            asyncio.run(_round(url, server_pid(url), key, flag_path, args.clients, f"v{n + 1}"))


if __name__ == "__main__":
    main()
