from __future__ import annotations

from avsb.server.design.crud import CrudSpec, Schemas, design_router
from avsb.server.flags import service as flag_service
from avsb.server.flags.schemas import FlagCreate, FlagFilters, FlagOut, FlagPatch
from avsb.server.models import Flag

schemas = Schemas(FlagCreate, FlagPatch, FlagOut, FlagFilters)
router = design_router("flags", CrudSpec(Flag, "flags", schemas, flag_service))
