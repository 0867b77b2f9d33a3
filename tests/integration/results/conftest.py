"""Servers for the ingestion and results tests: events in the default DuckDB store, or in
PostgreSQL when ``AVSB_TEST_EVENTS_PG_URL`` is set (the PostgreSQL pass of ``make test``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.design.conftest import emitted
from tests.support.event_backends import PG_URL_ENV, _pg_schema
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client


@contextlib.contextmanager
def events_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh event store URL: a DuckDB file, a chdb directory or a PostgreSQL schema."""
    if backend == "postgres":
        with _pg_schema() as url:
            yield url
        return
    yield str(tmp_path / "events.duckdb") if backend == "duckdb" else f"chdb://{tmp_path / 'ch'}"


@contextlib.contextmanager
def server_on(
    servers: ServerFactory, backend: str, tmp_path: Path, **settings: Any
) -> Iterator[LiveServer]:
    """A server whose events live in a fresh store of ``backend``; stopped on exit."""
    with events_url(backend, tmp_path) as url:
        live = servers.start(events_url=url, **settings)
        try:
            yield live
        finally:
            live.stop()


def default_backend() -> str:
    return "postgres" if os.environ.get(PG_URL_ENV) else "duckdb"


@pytest.fixture(scope="package")
def events_server(
    servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with server_on(servers, default_backend(), tmp_path_factory.mktemp("events")) as live:
        yield live


@pytest.fixture
def api(events_server: LiveServer) -> Iterator[ApiClient]:
    """A ``*`` token of a brand-new organisation on the events server."""
    with new_org_client(events_server) as client:
        yield client


__all__ = ["emitted"]
