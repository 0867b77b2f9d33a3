"""Organisations, tokens and the service's own bookkeeping tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, JSONType, Revisioned, Timestamped, UTCDateTime, utcnow


class Organization(Base, Timestamped):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class ApiToken(Base, Revisioned):
    """Service tokens (``avsb_svc_``), SDK keys (``avsb_sdk_``) and admin tokens.

    Only the SHA-256 of a secret is stored. During a rotation's grace period the previous
    secret's hash stays valid until ``previous_expires_at``.
    """

    __tablename__ = "api_tokens"
    __resource_type__ = "token"
    __snapshot_fields__ = (
        "name",
        "description",
        "scopes",
        "expires_at",
        "revoked_at",
        "rate_limit_per_minute",
        "rate_limit_burst",
        "allowed_origins",
    )
    __table_args__ = (Index("ix_api_tokens_org_id_id", "org_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    project_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(40))
    previous_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    previous_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Service tokens: their own rate limit (null: the server's default).
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_limit_burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # When a ``token.used`` audit event was last written (at most one per hour, all processes).
    last_audited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Personal access tokens (kind "pat") only: the user whose current role bounds its rights.
    user_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    # SDK keys only (never service tokens): the ABC API signs requests with md5(secret + key id
    # + time), which only a server knowing the secret can check (docs/evaluation.md). The
    # previous secret stays during a rotation's grace period.
    sdk_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sdk_previous_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # SDK keys only: the browser origins that may read evaluation answers (CORS); None: the
    # instance default AVSB_CORS_ORIGINS (src/avsb/server/hotpath/cors.py).
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_id_id", "org_id", "id"),
        Index("ix_audit_events_org_resource", "org_id", "resource_type", "resource_id"),
        Index("ix_audit_events_org_action", "org_id", "action"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    # A person acting through a personal access token: the token's id (actor_id is the user).
    actor_token_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    action: Mapped[str] = mapped_column(String(80))
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str] = mapped_column(String(40))
    diff: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Revision(Base):
    __tablename__ = "revisions"
    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id", "number"),
        Index("ix_revisions_org_id", "org_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str] = mapped_column(String(40))
    number: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(80))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyRecord(Base):
    """One ``Idempotency-Key`` of one token: reserved while in flight, then the stored answer."""

    __tablename__ = "idempotency_records"

    token_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RateBucket(Base):
    """A shared token bucket: ``tokens`` left as of ``updated_at`` (unix seconds)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ServerState(Base):
    """Small key/value facts the server keeps for itself (the cursor-signing secret)."""

    __tablename__ = "server_state"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ChangeVersion(Base):
    """A counter per scope bumped by every write that invalidates in-memory caches."""

    __tablename__ = "change_versions"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
