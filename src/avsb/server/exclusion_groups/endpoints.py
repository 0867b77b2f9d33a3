from __future__ import annotations

from avsb.server.design.crud import CrudSpec, Schemas, design_router
from avsb.server.exclusion_groups import service as group_service
from avsb.server.exclusion_groups.schemas import (
    ExclusionGroupCreate,
    ExclusionGroupFilters,
    ExclusionGroupOut,
    ExclusionGroupPatch,
)
from avsb.server.models import ExclusionGroup

schemas = Schemas(
    ExclusionGroupCreate, ExclusionGroupPatch, ExclusionGroupOut, ExclusionGroupFilters
)
router = design_router(
    "exclusion-groups", CrudSpec(ExclusionGroup, "exclusion_groups", schemas, group_service)
)
