from __future__ import annotations

from typing import Any

from pydantic import Field

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch

_DOC = "Rule tree: all / any / not, attribute comparisons, segments"


class AudienceCreate(ScopedCreate):
    conditions: dict[str, Any] = Field(description=_DOC)


class AudiencePatch(ScopedPatch):
    conditions: dict[str, Any] | None = Field(default=None, description=_DOC)


class AudienceFilters(ListFilters):
    pass


class AudienceOut(ScopedOut):
    conditions: dict[str, Any]
