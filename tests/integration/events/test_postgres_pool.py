"""The PostgreSQL event store's connection pool never leaves a connection open after close:
one in use when the store closes is closed when it comes back (not left to the garbage
collector, which warns about it). Needs ``AVSB_TEST_EVENTS_PG_URL`` (the PostgreSQL pass)."""

from __future__ import annotations

import os

import pytest

from avsb.server.events.postgres_store import ConnectionPool
from tests.support.event_backends import PG_URL_ENV


def _dsn() -> str:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set: PostgreSQL event store not tested")
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_connection_in_use_at_close__closed_when_released() -> None:
    pool = ConnectionPool(_dsn(), size=2)
    with pool.connection() as idle:
        pass
    with pool.connection() as in_use:
        assert in_use is idle  # reused while the pool is open
        pool.close()
        assert idle.closed is False  # in use: closed only when it comes back
    assert in_use.closed
    with pool.connection() as after:  # still usable after close, never kept
        assert after.execute("SELECT 1").fetchone() == (1,)
    assert after.closed
