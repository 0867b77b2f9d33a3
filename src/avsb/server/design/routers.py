"""The routers of the experiment-design resources, for ``create_app`` to include."""

from __future__ import annotations

from fastapi import APIRouter

from avsb.server.audiences.endpoints import router as audiences
from avsb.server.exclusion_groups.endpoints import router as exclusion_groups
from avsb.server.experiments.endpoints import router as experiments
from avsb.server.flags.endpoints import router as flags
from avsb.server.metrics.endpoints import router as metrics
from avsb.server.segments.endpoints import router as segments
from avsb.server.templates.endpoints import router as templates

ROUTERS: tuple[APIRouter, ...] = (
    exclusion_groups,
    experiments,
    flags,
    audiences,
    segments,
    metrics,
    templates,
)
