from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from avsb.server.ingestion.parse import MAX_EVENTS

_EVENT_DOC = (
    "An event object. Batch route: 'type' is exposure | metric | identify | exclusion | "
    "covariate | stratum | holdout, with that kind's fields (docs/results.md). Per-experiment "
    "routes: the kind and the experiment come from the path. Invalid events are rejected "
    "one by one in the answer; the valid ones are stored."
)


class EventsBody(BaseModel):
    """The documented request body (the route checks events by hand, see ingestion.parse)."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(max_length=MAX_EVENTS, description=_EVENT_DOC)


EVENTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EventsBody.model_json_schema()}},
    }
}


class RejectionOut(BaseModel):
    index: int = Field(description="Position of the event in the batch")
    code: str
    message: str


class IngestResult(BaseModel):
    accepted: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Events already stored, or repeated in the batch")
    rejected: list[RejectionOut]


class KindOut(BaseModel):
    kind: str
    scope: Literal["experiment", "project"]
    count: int = Field(description="Distinct events stored")
    received: int = Field(description="Valid events received, duplicates included")
    duplicates: int
    rejected: int
    last_event_at: datetime | None
    last_ingested_at: datetime | None


class IngestionSummaryOut(BaseModel):
    experiment_id: str
    experiment_key: str
    kinds: list[KindOut]
    count: int
    duplicates: int
    rejected: int
    rejected_unattributed: int = Field(
        description="Rejected events of the project whose kind or experiment was not known"
    )
    last_event_at: datetime | None
