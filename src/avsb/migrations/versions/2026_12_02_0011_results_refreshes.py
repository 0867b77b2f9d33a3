"""results_refreshes: when the background job next refreshes a running experiment's results;
results_snapshots.series: the lift-over-time series stored with a snapshot

Revision ID: 0011_results_refreshes
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from avsb.server.models.base import UTCDateTime

revision: str = "0011_results_refreshes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("results_refreshes",)
depends_on: str | Sequence[str] | None = ("0002", "0005")  # experiments, results_snapshots


def upgrade() -> None:
    with op.batch_alter_table("results_snapshots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "series",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    op.create_table(
        "results_refreshes",
        sa.Column("experiment_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("next_run_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.Column("refreshed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_results_refreshes_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_results_refreshes_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_results_refreshes")),
    )
    with op.batch_alter_table("results_refreshes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_results_refreshes_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_results_refreshes_next_run_at"), ["next_run_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("results_snapshots", schema=None) as batch_op:
        batch_op.drop_column("series")
    with op.batch_alter_table("results_refreshes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_results_refreshes_next_run_at"))
        batch_op.drop_index(batch_op.f("ix_results_refreshes_org_id"))
    op.drop_table("results_refreshes")
