"""Slack: workspace installations, install and link handshakes, user links, project channels,
seen request signatures (replay protection) and the outbox of messages to post.

The bot token is kept in clear because the server must present it to Slack (like a webhook's
signing secret); no API answer, export or audit record ever holds it. One-time secrets (OAuth
``state``, link codes) are stored as SHA-256 hashes only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, UTCDateTime, utcnow


class SlackInstallation(Base):
    """The Slack workspace an organisation is connected to (one per organisation).

    ``bot_token`` is None for a single-workspace install: the ``AVSB_SLACK_BOT_TOKEN`` setting
    is used instead, so that token never reaches the database."""

    __tablename__ = "slack_installations"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(String(40), unique=True)
    team_name: Mapped[str] = mapped_column(String(200), default="")
    bot_user_id: Mapped[str] = mapped_column(String(40), default="")
    bot_token: Mapped[str | None] = mapped_column(String(300), nullable=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    installed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SlackOAuthState(Base):
    """One install under way: found by the SHA-256 of its ``state``, deleted when used."""

    __tablename__ = "slack_oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SlackLinkCode(Base):
    """A one-time code ``/avsb link`` gave a Slack user; a signed-in person redeems it."""

    __tablename__ = "slack_link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    team_id: Mapped[str] = mapped_column(String(40))
    slack_user_id: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SlackUserLink(Base):
    """A Slack user acting as an AvsB user (with that user's role in the organisation)."""

    __tablename__ = "slack_user_links"
    __table_args__ = (
        UniqueConstraint("team_id", "slack_user_id"),
        Index("ix_slack_user_links_org_id", "org_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    team_id: Mapped[str] = mapped_column(String(40))
    slack_user_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SlackChannel(Base):
    """Where a project's notifications and weekly digest are posted."""

    __tablename__ = "slack_channels"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SlackSeenRequest(Base):
    """The signature of a verified request, kept while its timestamp is acceptable: the
    primary key refuses the same request a second time, across processes."""

    __tablename__ = "slack_seen_requests"

    signature: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SlackMessage(Base):
    """One Web API call to make (``chat.postMessage``): the outbox the Slack worker drains.

    ``status``: ``pending`` (due at ``next_attempt_at``), ``sending`` (claimed until
    ``locked_until``), then ``sent`` or ``failed``."""

    __tablename__ = "slack_messages"
    __table_args__ = (
        Index("ix_slack_messages_due", "status", "next_attempt_at"),
        Index("ix_slack_messages_org_id", "org_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the JSON arguments of chat.postMessage
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
