from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from avsb.server.kit.schemas import StrictModel


class OrgCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime
    updated_at: datetime


class MeOut(BaseModel):
    token_id: str
    kind: str
    name: str
    org_id: str
    org_name: str
    scopes: list[str]
    is_admin: bool
    project_id: str | None
    user: dict[str, str] | None = None  # a person: id, email, name
    role: str | None = None  # a person's role in org_id
