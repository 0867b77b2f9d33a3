"""Request and response bases shared by every project-scoped design resource."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from avsb.server.errors import ValidationFailed
from avsb.server.kit.schemas import StrictModel
from avsb.server.projects.schemas import KEY_PATTERN


class ScopedCreate(StrictModel):
    project_id: str = Field(min_length=1, max_length=40, description="A project of this org")
    key: str = Field(pattern=KEY_PATTERN, description="Unique per project")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class PatchModel(StrictModel):
    """Base of PATCH bodies: only sent fields change; null is refused unless ``__nullable__``."""

    __nullable__: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.__nullable__:
            raise ValueError("may not be null")
        return value


class ScopedPatch(PatchModel):
    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class ListFilters(BaseModel):
    """Query filters of a list; every field but ``key_prefix`` is an equality on its column."""

    project_id: str | None = Field(default=None, max_length=40)
    key_prefix: str | None = Field(default=None, max_length=100)


class ScopedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    project_id: str
    key: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    version: int


def validation_failed(message: str, exc: ValidationError) -> ValidationFailed:
    """A 422 with field paths for a model validated outside the request parsing."""
    fields = [
        {
            "path": ".".join(str(part) for part in err["loc"]) or "body",
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors()
    ]
    return ValidationFailed(message, fields)
