from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from avsb.server.kit.idempotency import SECRET_FIELD
from avsb.server.kit.schemas import StrictModel

EventType = Literal[
    "experiment.started",
    "experiment.paused",
    "experiment.stopped",
    "experiment.archived",
    "flag.created",
    "flag.updated",
    "flag.deleted",
    "results.significant",
    "srm.detected",
    "webhook.test",
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
DeliveryStatus = Literal["pending", "delivering", "delivered", "failed"]

_URL: dict[str, Any] = {
    "min_length": 1,
    "max_length": 2048,
    "description": "http(s) URL of a public address",
}
_EVENTS: dict[str, Any] = {
    "min_length": 1,
    "max_length": len(EVENT_TYPES) + 1,
    "description": 'Event types, or ["*"] for all',
}


def _normalise_events(value: list[str]) -> list[str]:
    """Sorted, without duplicates; ``*`` anywhere means every event type."""
    return ["*"] if "*" in value else sorted(set(value))


class WebhookCreate(StrictModel):
    project_id: str | None = Field(default=None, max_length=40, description="null = every project")
    url: str = Field(**_URL)
    event_types: list[EventType | Literal["*"]] = Field(**_EVENTS)
    description: str = Field(default="", max_length=5000)
    enabled: bool = True

    @field_validator("event_types")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _normalise_events(value)


class WebhookPatch(StrictModel):
    project_id: str | None = Field(default=None, max_length=40)
    url: str | None = Field(default=None, **_URL)
    event_types: list[EventType | Literal["*"]] | None = Field(default=None, **_EVENTS)
    description: str | None = Field(default=None, max_length=5000)
    enabled: bool | None = None

    @field_validator("event_types")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _normalise_events(value)


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    project_id: str | None
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookWithSecretOut(WebhookOut):
    secret: str = Field(
        description="The signing secret; shown only in this answer", json_schema_extra=SECRET_FIELD
    )


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    attempted_at: datetime
    status_code: int | None
    response_excerpt: str
    error: str | None
    duration_ms: float


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_type: str
    status: DeliveryStatus
    payload: dict[str, Any]
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempts: list[AttemptOut]


class WebhookTestOut(BaseModel):
    success: bool
    attempt: AttemptOut
    delivery: DeliveryOut
