from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from avsb.server.kit.schemas import StrictModel

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


class ProjectCreate(StrictModel):
    key: str = Field(pattern=KEY_PATTERN, description="Unique per organisation")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    holdout_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    salt: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:\-]{1,64}$",
        description="Holdout hash salt (default: the project id); fixed after creation",
    )


class ProjectPatch(StrictModel):
    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    holdout_percent: float | None = Field(default=None, ge=0.0, le=100.0)


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    key: str
    name: str
    description: str
    holdout_percent: float
    salt: str
    archived: bool
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
