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
from avsb.server.models import Audience, ExclusionGroup, Experiment, Metric, Template
from avsb.server.templates.schemas import TemplateCreate, TemplateOut, TemplateUse


def present(template: Template) -> TemplateOut:
    return TemplateOut.model_validate(template)


def get(session: Session, org_id: str, template_id: str) -> Template:
    return resources.get_in_org(session, Template, org_id, template_id)


def check_body(body: dict[str, Any]) -> None:
    """The design's own rules (its references: ``check_references``)."""
    experiment_service.check_variants(body["variants"], "body.variants")
    experiment_service.check_analysis(body["analysis"], "body.analysis")


def check_references(session: Session, project_id: str, body: dict[str, Any]) -> None:
    """The audience, exclusion group and metrics a design names must be in the template's own
    project: a template never stores ids of another project or organisation (they are checked
    again in the target project when it is used)."""
    for role, metric_ids in body["metrics"].items():
        for i, metric_id in enumerate(metric_ids):
            refs.in_project(session, Metric, project_id, metric_id, f"body.metrics.{role}.{i}")
    if body["audience_id"] is not None:
        refs.in_project(session, Audience, project_id, body["audience_id"], "body.audience_id")
    if body["exclusion_group_id"] is not None:
        group_id = body["exclusion_group_id"]
        refs.in_project(session, ExclusionGroup, project_id, group_id, "body.exclusion_group_id")


def create(session: Session, ctx: ChangeContext, body: TemplateCreate) -> Template:
    refs.project_for(session, ctx.org_id, body.project_id)
    spec = body.model_dump()
    check_body(spec["body"])
    check_references(session, body.project_id, spec["body"])
    template = Template(id=new_id("tpl"), org_id=ctx.org_id, **spec)
    return resources.create(session, ctx, template)


def update(
    session: Session, ctx: ChangeContext, template: Template, spec: dict[str, Any]
) -> Template:
    if spec.get("body") is not None:
        check_body(spec["body"])
        check_references(session, template.project_id, spec["body"])
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
