"""slack: installations, OAuth states, link codes, user links, project channels, seen request
signatures and the outbox of messages

Revision ID: 0011_slack
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from avsb.server.models.base import UTCDateTime

revision: str = "0011_slack"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0008_people"  # slack_user_links refers to users


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_org_id_organizations"),
        ondelete="CASCADE",
    )


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "slack_installations",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("team_name", sa.String(length=200), nullable=False),
        sa.Column("bot_user_id", sa.String(length=40), nullable=False),
        sa.Column("bot_token", sa.String(length=300), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("installed_by", sa.String(length=40), nullable=True),
        *_stamps(),
        _org_fk("slack_installations"),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_slack_installations")),
        sa.UniqueConstraint("team_id", name=op.f("uq_slack_installations_team_id")),
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        _org_fk("slack_oauth_states"),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_slack_oauth_states")),
    )
    op.create_index(op.f("ix_slack_oauth_states_expires_at"), "slack_oauth_states", ["expires_at"])
    op.create_table(
        "slack_link_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("slack_user_id", sa.String(length=40), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        _org_fk("slack_link_codes"),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_slack_link_codes")),
    )
    op.create_index(op.f("ix_slack_link_codes_expires_at"), "slack_link_codes", ["expires_at"])
    op.create_table(
        "slack_user_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("slack_user_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        _org_fk("slack_user_links"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_slack_user_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_user_links")),
        sa.UniqueConstraint(
            "team_id", "slack_user_id", name=op.f("uq_slack_user_links_team_id_slack_user_id")
        ),
    )
    op.create_index("ix_slack_user_links_org_id", "slack_user_links", ["org_id"])
    op.create_table(
        "slack_channels",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        *_stamps(),
        _org_fk("slack_channels"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_slack_channels_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_slack_channels")),
    )
    op.create_index(op.f("ix_slack_channels_org_id"), "slack_channels", ["org_id"])
    op.create_table(
        "slack_seen_requests",
        sa.Column("signature", sa.String(length=80), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_slack_seen_requests")),
    )
    op.create_index(
        op.f("ix_slack_seen_requests_expires_at"), "slack_seen_requests", ["expires_at"]
    )
    op.create_table(
        "slack_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        *_stamps(),
        _org_fk("slack_messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_messages")),
    )
    op.create_index("ix_slack_messages_due", "slack_messages", ["status", "next_attempt_at"])
    op.create_index("ix_slack_messages_org_id", "slack_messages", ["org_id", "created_at"])


def downgrade() -> None:
    for table in (
        "slack_messages",
        "slack_seen_requests",
        "slack_channels",
        "slack_user_links",
        "slack_link_codes",
        "slack_oauth_states",
        "slack_installations",
    ):
        op.drop_table(table)
