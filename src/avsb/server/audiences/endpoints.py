from __future__ import annotations

from avsb.server.audiences import service as audience_service
from avsb.server.audiences.schemas import (
    AudienceCreate,
    AudienceFilters,
    AudienceOut,
    AudiencePatch,
)
from avsb.server.design.crud import CrudSpec, Schemas, design_router
from avsb.server.models import Audience

schemas = Schemas(AudienceCreate, AudiencePatch, AudienceOut, AudienceFilters)
router = design_router("audiences", CrudSpec(Audience, "audiences", schemas, audience_service))
