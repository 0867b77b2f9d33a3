"""metrics: quantile metrics (quantile), rank test (test) and bootstrap interval (interval)

Revision ID: 0007_metric_kinds
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_metric_kinds"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("metric_kinds",)
depends_on: str | Sequence[str] | None = "0002"  # the metrics table


def upgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quantile", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("test_method", sa.String(length=16), nullable=False, server_default="welch")
        )
        batch_op.add_column(
            sa.Column(
                "interval_method", sa.String(length=16), nullable=False, server_default="normal"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_column("interval_method")
        batch_op.drop_column("test_method")
        batch_op.drop_column("quantile")
