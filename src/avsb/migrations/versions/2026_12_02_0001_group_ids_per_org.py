"""variant_group_ids: numbers unique per organisation (key org_id, group_id), not global

A workspace import keeps the group ids of its document, which must not depend on what other
organisations of the server hold. Rows are copied as they are (global ids are unique per org).

Revision ID: 20261202_group_ids
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import avsb.server.models.base

revision: str = "20261202_group_ids"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("group_ids",)
depends_on: str | Sequence[str] | None = None


def _rows() -> list[dict[str, object]]:
    table = sa.table(
        "variant_group_ids",
        sa.column("group_id", sa.Integer()),
        sa.column("org_id", sa.String()),
        sa.column("experiment_id", sa.String()),
        sa.column("variant_key", sa.String()),
        sa.column("created_at", avsb.server.models.base.UTCDateTime(timezone=True)),
    )
    return [dict(row._mapping) for row in op.get_bind().execute(sa.select(table))]


def _create(*, per_org: bool) -> sa.Table:
    key = (
        sa.PrimaryKeyConstraint("org_id", "group_id", name=op.f("pk_variant_group_ids"))
        if per_org
        else sa.PrimaryKeyConstraint("group_id", name=op.f("pk_variant_group_ids"))
    )
    table = op.create_table(
        "variant_group_ids",
        sa.Column("group_id", sa.Integer(), autoincrement=not per_org, nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("experiment_id", sa.String(length=40), nullable=False),
        sa.Column("variant_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", avsb.server.models.base.UTCDateTime(timezone=True), nullable=False),
        key,
        sa.UniqueConstraint(
            "experiment_id",
            "variant_key",
            name=op.f("uq_variant_group_ids_experiment_id_variant_key"),
        ),
        sqlite_autoincrement=not per_org,
    )
    assert table is not None
    return table


def upgrade() -> None:
    rows = _rows()
    with op.batch_alter_table("variant_group_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_variant_group_ids_org_id"))
    op.drop_table("variant_group_ids")
    table = _create(per_org=True)
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    # Fails (unique violation) once two organisations hold the same number.
    rows = _rows()
    op.drop_table("variant_group_ids")
    table = _create(per_org=False)
    with op.batch_alter_table("variant_group_ids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_variant_group_ids_org_id"), ["org_id"], unique=False)
    if rows:
        op.bulk_insert(table, rows)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('variant_group_ids', 'group_id'), "
            "COALESCE((SELECT max(group_id) FROM variant_group_ids), 0) + 1, false)"
        )
