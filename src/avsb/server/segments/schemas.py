from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch
from avsb.server.kit.schemas import StrictModel

MAX_UPLOAD = 500_000
"""Most unit ids one request may add or remove (the body limit usually binds first)."""

UnitId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
SegmentType = Literal["ids", "conditions"]


class SegmentCreate(ScopedCreate):
    type: SegmentType
    unit_ids: list[UnitId] | None = Field(
        default=None, max_length=MAX_UPLOAD, description='Members of an "ids" segment'
    )
    conditions: dict[str, Any] | None = Field(
        default=None, description='The rule tree of a "conditions" segment'
    )


class SegmentPatch(ScopedPatch):
    conditions: dict[str, Any] | None = None


class SegmentFilters(ListFilters):
    type: SegmentType | None = None


class SegmentOut(ScopedOut):
    type: SegmentType
    conditions: dict[str, Any] | None
    member_count: int


class MembersBody(StrictModel):
    unit_ids: list[UnitId] = Field(min_length=1, max_length=MAX_UPLOAD)


class MemberOut(BaseModel):
    unit_id: str


class MembersChangeOut(BaseModel):
    changed: int = Field(description="Ids added (or removed) by this request")
    member_count: int
