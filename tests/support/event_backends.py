"""Open a fresh event store per backend: DuckDB and chdb in a temp dir, PostgreSQL in a
throwaway schema when AVSB_TEST_EVENTS_PG_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from avsb.server.events import EventStore, open_event_store

BACKENDS = ("duckdb", "clickhouse", "postgres")
PG_URL_ENV = "AVSB_TEST_EVENTS_PG_URL"


@contextmanager
def fresh_store(backend: str, tmp_path: Path) -> Iterator[EventStore]:
    if backend == "postgres":
        with _pg_schema() as url:
            store = open_event_store(url)
            yield from _opened(store)
        return
    url = str(tmp_path / "events.duckdb") if backend == "duckdb" else f"chdb://{tmp_path / 'ch'}"
    yield from _opened(open_event_store(url))


def _opened(store: EventStore) -> Iterator[EventStore]:
    try:
        store.ensure_schema()
        yield store
    finally:
        store.close()


@contextmanager
def _pg_schema() -> Iterator[str]:
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set: PostgreSQL event store not tested")
    base = base.replace("postgresql+psycopg://", "postgresql://", 1)  # a SQLAlchemy URL
    schema = f"ev_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}".encode())
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE".encode())
