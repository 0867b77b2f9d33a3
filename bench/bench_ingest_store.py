"""Append rate of 1,000-event batches: EventStore.append vs the DuckDB driver directly.

    .venv/bin/python bench/bench_ingest_store.py [--batches 200 --batch-size 1000]
        [--chdb] [--pg-url postgresql://...]

The baselines insert the same rows into the same table with no event objects, no dedupe
and no ON CONFLICT: numpy arrays scanned in place (the fastest driver path measured), and
``executemany`` (the obvious one). Every batch is committed, as append does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import psycopg

from avsb.server.events import Event, EventBatch, EventStore, MetricEvent, open_event_store
from avsb.server.events.duckdb_store import DuckDBEventStore
from avsb.server.events.schema import TABLES, prepare_batch
from avsb.server.events.types import EventKind

BASE = datetime(2026, 3, 1, tzinfo=UTC)


def make_batches(count: int, size: int) -> list[EventBatch]:
    rng = np.random.default_rng(1)
    batches = []
    for b in range(count):
        events: list[Event] = [
            MetricEvent(
                event_name="purchase",
                unit_id=f"u{int(rng.integers(0, 100_000))}",
                timestamp=BASE + timedelta(seconds=b * size + i),
                value=float(rng.integers(0, 10_000)) / 100,
                properties={"sku": f"s{i % 50}"},
                event_id=f"b{b}-{i}",
            )
            for i in range(size)
        ]
        batches.append(EventBatch("org", "prj", events))
    return batches


def rate(batches: list[EventBatch], fn: Callable[[EventBatch], object]) -> float:
    started = time.perf_counter()
    for batch in batches:
        fn(batch)
    return sum(len(b.events) for b in batches) / (time.perf_counter() - started)


def raw_numpy(store: DuckDBEventStore) -> Callable[[EventBatch], object]:
    con, table = store.connection, TABLES[EventKind.METRIC]
    names = ", ".join(table.column_names)

    def insert(batch: EventBatch) -> object:
        rows = prepare_batch(batch, 0).rows[EventKind.METRIC]
        cols = list(zip(*rows, strict=True))
        arrays = {
            name: np.array(col, dtype=np.int64 if name in ("ingest_seq", "ts_us") else object)
            for name, col in zip(table.column_names, cols, strict=True)
        }
        arrays["value"] = np.array(cols[6], dtype=np.float64)
        con.begin()
        con.register("raw_stage", arrays)
        con.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM raw_stage")
        con.unregister("raw_stage")
        return con.commit()

    return insert


def raw_executemany(store: DuckDBEventStore) -> Callable[[EventBatch], object]:
    con, table = store.connection, TABLES[EventKind.METRIC]
    marks = ", ".join("?" for _ in table.columns)

    def insert(batch: EventBatch) -> object:
        rows = prepare_batch(batch, 0).rows[EventKind.METRIC]
        con.begin()
        con.executemany(f"INSERT INTO {table.name} VALUES ({marks})", rows)
        return con.commit()

    return insert


def fresh(url: str) -> EventStore:
    store = open_event_store(url)
    store.ensure_schema()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--chdb", action="store_true", help="also measure the chdb store")
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    batches = make_batches(args.batches, args.batch_size)
    retry = batches[: max(1, len(batches) // 4)]
    print(f"{len(batches)} batches x {args.batch_size} metric events\n")
    print(f"{'path':<44}{'events/s':>12}")
    with tempfile.TemporaryDirectory(prefix="avsb-ingest-") as tmp:
        results: list[tuple[str, float]] = []
        for name, make in (("raw DuckDB: numpy scan + INSERT", raw_numpy),):
            store = fresh(str(Path(tmp) / f"{name[:3]}-np.duckdb"))
            assert isinstance(store, DuckDBEventStore)
            results.append((name, rate(batches, make(store))))
            store.close()
        store = fresh(str(Path(tmp) / "raw-many.duckdb"))
        assert isinstance(store, DuckDBEventStore)
        few = batches[: max(1, len(batches) // 20)]
        results.append(
            ("raw DuckDB: executemany (1/20 of batches)", rate(few, raw_executemany(store)))
        )
        store.close()
        store = fresh(str(Path(tmp) / "store.duckdb"))
        results.append(("EventStore.append, DuckDB", rate(batches, store.append)))
        results.append(("EventStore.append, DuckDB, retried batches", rate(retry, store.append)))
        store.close()
        if args.chdb:
            store = fresh(f"chdb://{Path(tmp) / 'ch'}")
            results.append(("EventStore.append, chdb", rate(batches, store.append)))
            results.append(("EventStore.append, chdb, retried batches", rate(retry, store.append)))
            store.close()
        if args.pg_url:
            results += pg_rates(args.pg_url, batches, retry)
        for name, value in results:
            print(f"{name:<44}{value:>12,.0f}")


def pg_rates(
    url: str, batches: list[EventBatch], retry: list[EventBatch]
) -> list[tuple[str, float]]:
    schema = f"avsb_ingest_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}".encode())
    sep = "&" if "?" in url else "?"
    store = fresh(f"{url}{sep}options={quote(f'-csearch_path={schema}')}")
    try:
        return [
            ("EventStore.append, PostgreSQL", rate(batches, store.append)),
            ("EventStore.append, PostgreSQL, retried", rate(retry, store.append)),
        ]
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE".encode())


if __name__ == "__main__":
    main()
