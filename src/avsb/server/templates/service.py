"""Templates: stored experiment designs that new drafts are created from."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from avsb.server.design import refs
from avsb.server.design.schemas import validation_failed
from avsb.server.experiments import service as experiment_service
from avsb.server.experiments.schemas import ExperimentCreate
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Experiment, Template
from avsb.server.templates.schemas import TemplateCreate, TemplateOut, TemplateUse


def present(template: Template) -> TemplateOut:
    return TemplateOut.model_validate(template)


def get(session: Session, org_id: str, template_id: str) -> Template:
    return resources.get_in_org(session, Template, org_id, template_id)


def check_body(body: dict[str, Any]) -> None:
    """The design's own rules; its references are checked when it is used in a project."""
    experiment_service.check_variants(body["variants"], "body.variants")
    experiment_service.check_analysis(body["analysis"], "body.analysis")


def create(session: Session, ctx: ChangeContext, body: TemplateCreate) -> Template:
    refs.project_for(session, ctx.org_id, body.project_id)
    spec = body.model_dump()
    check_body(spec["body"])
    template = Template(id=new_id("tpl"), org_id=ctx.org_id, **spec)
    return resources.create(session, ctx, template)


def update(
    session: Session, ctx: ChangeContext, template: Template, spec: dict[str, Any]
) -> Template:
    if "body" in spec:
        check_body(spec["body"])
    return resources.update(session, ctx, template, spec)


def delete(session: Session, ctx: ChangeContext, template: Template) -> None:
    resources.delete(session, ctx, template)


def use(session: Session, ctx: ChangeContext, template: Template, body: TemplateUse) -> Experiment:
    """A new draft experiment in ``body.project_id`` with the template's design."""
    try:
        spec = ExperimentCreate.model_validate({**template.body, **body.model_dump()})
    except ValidationError as exc:
        raise validation_failed("The template no longer makes a valid experiment.", exc) from exc
    return experiment_service.create(session, ctx, spec)
