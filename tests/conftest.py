"""Shared fixtures: a real migrated database (SQLite file, or PostgreSQL when
``AVSB_TEST_DATABASE_URL`` is set) and real HTTP servers (uvicorn on loopback) over it.

Tests are isolated by tenancy: each test gets a fresh organisation and a token bound to it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from avsb.server.db import Database, migrate, normalize_url
from tests.support.servers import (
    ApiClient,
    LiveServer,
    ServerFactory,
    new_org_client,
    started_count,
    stop_started_since,
)
from tests.support.smtp import SmtpReceiver

# The files that take minutes (measured with --durations on both halves), run first: pytest-xdist
# hands a worker a whole file at a time in collection order, so a long file collected late ran
# at the end of the run (the schemathesis file: 5-7 min).
LONGEST_FIRST = (
    "tests/integration/test_schemathesis.py",
    "tests/integration/sdk/test_sdk_distribution.py",
    "tests/integration/realtime/test_relay.py",
    "tests/integration/realtime/test_processes.py",
    "tests/integration/events/test_owner.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the files of ``LONGEST_FIRST`` before the others (a stable sort: each file's own
    order is kept)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


def _postgres_database(admin_url: str, worker: str) -> str:
    name = f"avsb_test_{worker}_{secrets.token_hex(4)}"
    engine = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return normalize_url(admin_url).rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    pg = os.environ.get("AVSB_TEST_DATABASE_URL")
    if pg:
        return _postgres_database(pg, worker_id)
    return f"sqlite:///{tmp_path_factory.mktemp('meta') / 'avsb.sqlite3'}"


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    migrate(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def servers(
    database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    factory = ServerFactory(database.url, Path(tmp_path_factory.mktemp("data")))
    yield factory
    factory.close()


@pytest.fixture(scope="module", autouse=True)
def _module_servers_stop() -> Iterator[None]:
    """Servers a module's fixtures started stop when the module is done (servers of session
    and package fixtures are started with ``start_shared``, so they are not among them)."""
    mark = started_count()
    yield
    stop_started_since(mark)


@pytest.fixture(autouse=True)
def _test_servers_stop() -> Iterator[None]:
    """Servers a test (or its function fixtures) started stop when the test is done."""
    mark = started_count()
    yield
    stop_started_since(mark)


@pytest.fixture(scope="session")
def live_server(servers: ServerFactory) -> LiveServer:
    """One server for the session, with limits high enough not to get in a test's way."""
    return servers.start_shared()


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[ApiClient]:
    """A client holding a ``*`` service token of a brand-new organisation."""
    with new_org_client(live_server) as client:
        yield client


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    """A local SMTP server (``AVSB_SMTP_HOST=127.0.0.1``, ``AVSB_SMTP_PORT=smtp.port``) that
    keeps the messages it receives."""
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")
