from __future__ import annotations

from pydantic import Field

from avsb.server.design.schemas import ListFilters, ScopedCreate, ScopedOut, ScopedPatch
from avsb.server.experiments.schemas import ExperimentDesign
from avsb.server.kit.schemas import StrictModel
from avsb.server.projects.schemas import KEY_PATTERN


class TemplateCreate(ScopedCreate):
    body: ExperimentDesign


class TemplatePatch(ScopedPatch):
    body: ExperimentDesign | None = None


class TemplateFilters(ListFilters):
    pass


class TemplateOut(ScopedOut):
    body: ExperimentDesign


class TemplateUse(StrictModel):
    project_id: str = Field(min_length=1, max_length=40)
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
