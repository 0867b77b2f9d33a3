"""Webhook delivery tests run on their own database: every server's delivery worker drains the
outbox of the database it serves, so a private database keeps other servers (with other
settings) from attempting these tests' deliveries."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from avsb.server.db import Database, migrate, normalize_url
from tests.support.servers import LiveServer, ServerFactory

FAST_DELIVERY: dict[str, Any] = {
    "webhooks_allow_private_networks": True,
    "webhook_retry_schedule_seconds": [0.3, 0.3],
    "webhook_retry_jitter": 0.0,
    "webhook_poll_seconds": 0.1,
    "webhook_timeout_seconds": 5.0,
}


@dataclass
class HookEnv:
    """A private database and the servers started on it."""

    db: Database
    factory: ServerFactory

    def start(self, **overrides: Any) -> LiveServer:
        return self.factory.start(**{**FAST_DELIVERY, **overrides})


def _admin_exec(admin_url: str, sql: str) -> None:
    engine = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


@contextlib.contextmanager
def hook_env_at(tmp: Path) -> Iterator[HookEnv]:
    """A freshly migrated database (SQLite, or PostgreSQL when the suite runs on it)."""
    admin_url = os.environ.get("AVSB_TEST_DATABASE_URL")
    name = f"avsb_hooks_{secrets.token_hex(4)}"
    if admin_url:
        _admin_exec(admin_url, f'CREATE DATABASE "{name}"')
        url = normalize_url(admin_url).rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tmp / (name + '.sqlite3')}"
    db = Database(url, pool_size=4)
    migrate(db)
    factory = ServerFactory(db.url, tmp / name)
    try:
        yield HookEnv(db, factory)
    finally:
        factory.close()
        db.dispose()
        if admin_url:
            _admin_exec(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def hook_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookEnv]:
    with hook_env_at(tmp_path_factory.mktemp("hooks")) as env:
        yield env


@pytest.fixture(scope="module")
def hook_server(hook_env: HookEnv) -> LiveServer:
    """A server that may call loopback receivers and retries after 0.3 s, twice."""
    return hook_env.start()
