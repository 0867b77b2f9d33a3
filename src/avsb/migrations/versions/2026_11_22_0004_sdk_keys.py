"""sdk keys: the signing secret of SDK keys (the ABC API signs with it)

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("sdk",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Set for kind "sdk" only: the ABC signature md5(secret + key id + time) can only be
    # checked by a server that knows the secret (docs/evaluation.md).
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sdk_secret", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("sdk_previous_secret", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("sdk_previous_secret")
        batch_op.drop_column("sdk_secret")
