from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from avsb.server.auth.scopes import is_valid
from avsb.server.design.schemas import PatchModel
from avsb.server.kit.idempotency import SECRET_FIELD
from avsb.server.kit.origins import MAX_ORIGINS, clean_origins
from avsb.server.kit.schemas import Rfc3339, StrictModel

MAX_GRACE_SECONDS = 7 * 24 * 3600
MAX_RATE_PER_MINUTE = 10_000_000
MAX_RATE_BURST = 1_000_000
_PER_MINUTE = "Requests per minute sustained (null: the server's default)"
_BURST = "Requests allowed at once (null: the server's default)"


def _check_scopes(scopes: list[str]) -> list[str]:
    bad = [s for s in scopes if not is_valid(s)]
    if bad:
        raise ValueError(f"unknown scopes: {', '.join(bad)}")
    return sorted(set(scopes))


def _check_origins(origins: list[str] | None) -> list[str] | None:
    return None if origins is None else clean_origins(origins)


OriginsField = Field(
    default=None,
    max_length=MAX_ORIGINS,
    description="SDK keys only: browser origins (scheme://host[:port], or '*') that may call "
    "the evaluation routes with this key; null: the instance default AVSB_CORS_ORIGINS",
)


class TokenCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    kind: Literal["service", "sdk"] = "service"
    scopes: list[str] = Field(default_factory=list, max_length=64)
    expires_at: Rfc3339 | None = None
    project_id: str | None = Field(default=None, max_length=40)
    allowed_origins: list[str] | None = OriginsField
    rate_limit_per_minute: int | None = Field(
        default=None, ge=1, le=MAX_RATE_PER_MINUTE, strict=True, description=_PER_MINUTE
    )
    rate_limit_burst: int | None = Field(
        default=None, ge=1, le=MAX_RATE_BURST, strict=True, description=_BURST
    )

    _scopes = field_validator("scopes")(_check_scopes)
    _origins = field_validator("allowed_origins")(_check_origins)


class TokenPatch(PatchModel):
    # expires_at null: never expires; a rate limit null: the server's default
    # allowed_origins null: the default origins
    __nullable__ = frozenset(
        {"expires_at", "rate_limit_per_minute", "rate_limit_burst", "allowed_origins"}
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    scopes: list[str] | None = Field(default=None, max_length=64)
    expires_at: Rfc3339 | None = None
    allowed_origins: list[str] | None = OriginsField

    _origins = field_validator("allowed_origins")(_check_origins)
    rate_limit_per_minute: int | None = Field(
        default=None, ge=1, le=MAX_RATE_PER_MINUTE, strict=True, description=_PER_MINUTE
    )
    rate_limit_burst: int | None = Field(
        default=None, ge=1, le=MAX_RATE_BURST, strict=True, description=_BURST
    )

    @field_validator("scopes")
    @classmethod
    def _valid_scopes(cls, scopes: list[str] | None) -> list[str] | None:
        return None if scopes is None else _check_scopes(scopes)


class TokenRotate(StrictModel):
    grace_period_seconds: int = Field(default=0, ge=0, le=MAX_GRACE_SECONDS)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    kind: str
    name: str
    description: str
    scopes: list[str]
    project_id: str | None
    allowed_origins: list[str] | None
    user_id: str | None = None  # personal access tokens: their person
    token_prefix: str
    status: Literal["active", "revoked", "expired"]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limit_per_minute: int | None
    rate_limit_burst: int | None
    previous_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TokenCreated(TokenOut):
    token: str = Field(
        description="The secret: shown once, never again (never stored for an idempotent replay)",
        json_schema_extra=SECRET_FIELD,
    )
