"""Request and answer bodies of the report routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Id = Annotated[str, Field(min_length=1, max_length=40)]


class CompareRequest(BaseModel):
    """Either experiments by id, or projects by id (all their experiments)."""

    model_config = ConfigDict(extra="forbid")

    experiment_ids: list[Id] | None = Field(default=None, max_length=20)
    project_ids: list[Id] | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.experiment_ids is None) == (self.project_ids is None):
            raise ValueError("give exactly one of experiment_ids and project_ids")
        return self


class AnalysisOut(BaseModel):
    """A results snapshot kept for one of the project's experiments."""

    id: str
    experiment_id: str
    computed_at: datetime
    segment: str | None
    srm_detected: bool
    significant: list[str]


class ExportOut(BaseModel):
    id: str
    kind: str
    format: str
    experiment_id: str | None
    snapshot_id: str | None
    size_bytes: int
    sha256: str
    actor_type: str
    actor_id: str | None
    actor_name: str
    created_at: datetime


class HistoryOut(BaseModel):
    project_id: str
    analyses: list[AnalysisOut]
    exports: list[ExportOut]
