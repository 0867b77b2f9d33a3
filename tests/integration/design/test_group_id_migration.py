"""Migration 20261202_group_ids: variant numbers become unique per organisation, and the
numbers stored before it are kept as they are."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError

from avsb.server.db import alembic_config, normalize_url

ROWS = [
    {"group_id": 1, "org_id": "org_a", "experiment_id": "exp_a", "variant_key": "control"},
    {"group_id": 2, "org_id": "org_a", "experiment_id": "exp_a", "variant_key": "blue"},
    {"group_id": 3, "org_id": "org_b", "experiment_id": "exp_b", "variant_key": "control"},
]
_INSERT = text(
    "INSERT INTO variant_group_ids (group_id, org_id, experiment_id, variant_key, created_at) "
    "VALUES (:group_id, :org_id, :experiment_id, :variant_key, :created_at)"
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (PostgreSQL when AVSB_TEST_DATABASE_URL is set)."""
    admin = os.environ.get("AVSB_TEST_DATABASE_URL")
    if not admin:
        url = f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        engine = create_engine(url)
        yield engine
        engine.dispose()
        return
    name = f"avsb_migration_{secrets.token_hex(4)}"
    server = create_engine(normalize_url(admin), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(normalize_url(admin).rsplit("/", 1)[0] + "/" + name)
    yield engine
    engine.dispose()
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}"'))
    server.dispose()


def _upgrade(engine: Engine, target: str) -> None:
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
        conn.commit()


def _insert(engine: Engine, row: dict[str, object]) -> None:
    with engine.begin() as conn:
        conn.execute(_INSERT, {**row, "created_at": datetime(2026, 11, 30, tzinfo=UTC)})


def test_upgrade__numbers_kept__unique_per_org_from_then_on(engine: Engine) -> None:
    # Given: numbers given by the old server-wide counter
    _upgrade(engine, "0002")
    for row in ROWS:
        _insert(engine, row)

    # When
    _upgrade(engine, "heads")

    # Then: every row as it was
    with engine.connect() as conn:
        stmt = "SELECT group_id, org_id, experiment_id, variant_key FROM variant_group_ids"
        rows = {tuple(r) for r in conn.execute(text(stmt))}
    assert rows == {tuple(r.values()) for r in ROWS}
    # and a number is unique in its organisation, not across the server
    _insert(engine, {**ROWS[2], "org_id": "org_c", "experiment_id": "exp_c"})
    with pytest.raises(IntegrityError):
        _insert(engine, {**ROWS[0], "experiment_id": "exp_other"})


def test_downgrade__server_wide_numbers_again(engine: Engine) -> None:
    _upgrade(engine, "heads")
    for row in ROWS:
        _insert(engine, row)
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "group_ids@-1")
        conn.commit()
    with engine.connect() as conn:
        stmt = "SELECT group_id, org_id, experiment_id, variant_key FROM variant_group_ids"
        assert {tuple(r) for r in conn.execute(text(stmt))} == {tuple(r.values()) for r in ROWS}
    with pytest.raises(IntegrityError):  # one number across the server again
        _insert(engine, {**ROWS[0], "org_id": "org_c", "experiment_id": "exp_c"})
