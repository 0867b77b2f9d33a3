"""sdk key origins: the browser origins an SDK key admits (CORS of the evaluation routes)

Revision ID: 0008_sdk_key_origins
Revises: 0004
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_sdk_key_origins"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = ("sdk_key_origins",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null: the instance default AVSB_CORS_ORIGINS (src/avsb/server/hotpath/cors.py).
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_origins", json_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("allowed_origins")
