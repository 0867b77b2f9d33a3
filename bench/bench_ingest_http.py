"""Ingestion over HTTP in 1,000-event batches against appending the same rows with the
store's driver directly, measured in the same run.

    .venv/bin/python -m bench.bench_ingest_http [--batches 400 --batch-size 1000
        --connections 8 --client wrk|httpx]

The server is ``avsb serve`` in its own process on its default stores (SQLite metadata,
DuckDB events). The client posts pre-encoded bodies, each once, ``--connections`` at a
time (8 by default: several senders at once, as SDKs and pipelines post): with wrk (one
thread, a Lua script walking through the bodies; the default) or with
httpx threads, which spend more of the shared CPU than the server's own work. Every request
is authenticated, rate-limited (at a high limit), checked event by event and acknowledged
only after the store committed the batch; every answer must say ``"accepted":1000`` (then
``"duplicates":1000`` for the retried batches). The baseline appends the same rows with the
DuckDB driver (numpy arrays scanned in place, one INSERT and one commit per batch, no
dedupe): ``bench_ingest_store.raw_numpy``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import orjson

from avsb.server.events import EventBatch, MetricEvent
from avsb.server.events.duckdb_store import DuckDBEventStore
from bench._harness import (
    RELAXED_LIMITS,
    cpu_seconds,
    server,
    server_pid,
    token_and_project,
    wrk_post_bodies,
)
from bench.bench_ingest_store import fresh as fresh_store
from bench.bench_ingest_store import make_batches, rate, raw_numpy


def body(batch: EventBatch) -> bytes:
    events = []
    for event in batch.events:
        assert isinstance(event, MetricEvent)
        events.append({
            "type": "metric", "event_id": event.event_id, "event_name": event.event_name,
            "unit_id": event.unit_id, "value": event.value, "properties": event.properties,
            "timestamp": event.timestamp.isoformat().replace("+00:00", "Z"),
        })  # fmt: skip
    return orjson.dumps({"events": events})


def setup(url: str) -> tuple[str, str]:
    """An org's events:write token and a project: (token, events path)."""
    token, project = token_and_project(url, ["events:write"])
    return token, f"{project}/events"


def post_all(
    path: str, token: str, bodies: Sequence[bytes], connections: int, expect: str = ""
) -> float:
    """Events per second for posting every body once, ``connections`` at a time (httpx)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    cursor = iter(range(len(bodies)))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(headers=headers, timeout=60) as client:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                r = client.post(path, content=bodies[index])
                if r.status_code != 200 or expect not in r.text:
                    errors.append(r.text[:200])

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors[:3]
    return len(bodies) * len(orjson.loads(bodies[0])["events"]) / elapsed


def answer(accepted: int, duplicates: int) -> str:
    """The part of a 200 answer with these counts (and every answer must have it)."""
    return f'"accepted":{accepted},"duplicates":{duplicates},'


def post(
    client: str, path: str, token: str, bodies: Sequence[bytes], connections: int, expect: str
) -> float:
    """Events per second for posting every body once; every answer must contain ``expect``."""
    if client == "httpx":
        return post_all(path, token, bodies, connections, expect)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    result = wrk_post_bodies(path, list(bodies), headers=headers, connections=connections,
                             expect=expect)  # fmt: skip
    assert result.unexpected == 0, f"{result.unexpected} answers without {expect!r}"
    return result.requests_per_second * len(orjson.loads(bodies[0])["events"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--client", choices=["wrk", "httpx"], default="wrk")
    args = parser.parse_args()
    batches = make_batches(args.batches + 20, args.batch_size)
    warm, batches = batches[:20], batches[20:]
    bodies = [body(b) for b in batches]
    kib = len(bodies[0]) / 1024
    print(f"{len(batches)} batches x {args.batch_size} metric events, {kib:.0f} KiB per body, "
          f"{args.connections} connections, client {args.client}\n")  # fmt: skip
    fresh, retried = answer(args.batch_size, 0), answer(0, args.batch_size)
    with server(**RELAXED_LIMITS) as url:
        token, path = setup(url)
        pid = server_pid(url)
        post_all(path, token, [body(b) for b in warm], args.connections, fresh)
        started = cpu_seconds(pid)
        http = post(args.client, path, token, bodies, args.connections, fresh)
        cpu_ms = (cpu_seconds(pid) - started) * 1000 / (len(batches) * args.batch_size / 1000)
        again = post(args.client, path, token, bodies[: len(bodies) // 4], args.connections,
                     retried)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="avsb-ingest-") as tmp:
        store = fresh_store(str(Path(tmp) / "driver.duckdb"))
        assert isinstance(store, DuckDBEventStore)
        driver = rate(batches, raw_numpy(store))
        store.close()
        store = fresh_store(str(Path(tmp) / "store.duckdb"))
        appended = rate(batches, store.append)
        store.close()
    rows = [
        ("DuckDB driver: numpy scan + INSERT, commit per batch (baseline)", driver),
        ("EventStore.append, DuckDB (in process, no HTTP)", appended),
        (f"POST /projects/{{p}}/events over HTTP ({args.client})", http),
        (f"POST /projects/{{p}}/events over HTTP ({args.client}), retried batches", again),
    ]
    for name, value in rows:
        print(f"{name:<66}{value:>12,.0f} events/s{value / driver:>8.2f}x")
    print(f"\nserver CPU, all threads: {cpu_ms:.1f} ms per 1,000 events posted over HTTP")
    print(f"HTTP / driver: {http / driver:.2f} (target >= 0.5); HTTP: {http:,.0f} events/s "
          "(target >= 100,000)")  # fmt: skip


if __name__ == "__main__":
    main()
