from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.auth.scopes import grants
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.design.crud import CrudSpec, Schemas, answer, design_router
from avsb.server.errors import ScopeMissing
from avsb.server.experiments import service as experiment_service
from avsb.server.experiments.schemas import ExperimentOut
from avsb.server.kit.schemas import Envelope
from avsb.server.models import Template
from avsb.server.templates import service as template_service
from avsb.server.templates.schemas import (
    TemplateCreate,
    TemplateFilters,
    TemplateOut,
    TemplatePatch,
    TemplateUse,
)

schemas = Schemas(TemplateCreate, TemplatePatch, TemplateOut, TemplateFilters)
router = design_router("templates", CrudSpec(Template, "templates", schemas, template_service))
# Using a template creates an experiment: it takes experiments:write (and templates:read).
ExperimentsWrite = Annotated[Principal, Depends(require("experiments:write"))]


@router.post("/{resource_id}/use", status_code=201, response_model=Envelope[ExperimentOut])
def use_template(
    org_id: str,
    resource_id: str,
    body: TemplateUse,
    principal: ExperimentsWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    if not grants(principal.scopes, "templates:read"):
        raise ScopeMissing(
            "Token is missing required scope: templates:read",
            details={"missingScope": "templates:read"},
        )
    template = template_service.get(session, org_id, resource_id)
    ctx = change_context(request, principal, org_id)
    experiment = template_service.use(session, ctx, template, body)
    return answer(request, experiment_service.present(experiment), experiment, 201)
