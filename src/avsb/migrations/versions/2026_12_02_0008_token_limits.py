"""api_tokens: per-token rate limit (rate_limit_per_minute, rate_limit_burst) and
last_audited_at (``token.used`` audited at most once per token per hour)

Revision ID: 0008_token_limits
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import avsb.server.models.base

revision: str = "0008_token_limits"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("token_limits",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rate_limit_burst", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "last_audited_at",
                avsb.server.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_audited_at")
        batch_op.drop_column("rate_limit_burst")
        batch_op.drop_column("rate_limit_per_minute")
