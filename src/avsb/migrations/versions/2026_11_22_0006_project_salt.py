"""projects.salt: the holdout's hash salt, kept across workspace export and import

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("project_salt",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("salt", sa.String(length=64), nullable=True))
    # Existing projects keep the salt they hashed with until now: their id.
    op.execute("UPDATE projects SET salt = id")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.alter_column("salt", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("salt")
