from __future__ import annotations

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch


class ExclusionGroupCreate(ScopedCreate):
    pass


class ExclusionGroupPatch(ScopedPatch):
    pass


class ExclusionGroupFilters(ListFilters):
    pass


class ExclusionGroupOut(ScopedOut):
    salt: str
