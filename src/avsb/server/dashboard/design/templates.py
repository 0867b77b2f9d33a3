"""Experiment templates: list, save an experiment's design as a template, use a template
(a new draft experiment with its design), edit its name, description and design (JSON, with the
edit-conflict flow) and delete (after confirmation)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormListsDep,
    NavItem,
    Viewer,
    changed_since,
    next_url,
    page,
    page_request,
    page_router,
    register_nav,
    render,
    see_other,
    validate,
    version_tag,
)
from avsb.server.dashboard.design.common import conflict, get, org_url, projects, sent, state
from avsb.server.dashboard.forms.common import api_errors
from avsb.server.deps import SessionDep, change_context
from avsb.server.design import listing
from avsb.server.design.crud import changes_of
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.experiments.schemas import ExperimentDesign
from avsb.server.models import Experiment, Template
from avsb.server.templates import service as template_service
from avsb.server.templates.schemas import (
    TemplateCreate,
    TemplateFilters,
    TemplatePatch,
    TemplateUse,
)

router = page_router(prefix="/orgs/{org_id}/templates")
Read = Annotated[Viewer, Depends(page("templates:read"))]
Write = Annotated[Viewer, Depends(page("templates:write"))]
UseIt = Annotated[Viewer, Depends(page("experiments:write"))]
register_nav(NavItem("Templates", "/orgs/{org_id}/templates", "templates:read", "Design", 60))
LABELS = (("name", "Name"), ("description", "Description"), ("body", "Design (JSON)"))


def _url(template: Template) -> str:
    return org_url(template.org_id, "templates", template.id)


def design_of(experiment: Experiment) -> dict[str, Any]:
    """The design an experiment would store as a template (no project, key or name)."""
    fields = ExperimentDesign.model_fields
    spec = {name: getattr(experiment, name) for name in fields}
    spec["variants"] = [{k: v[k] for k in ("key", "weight", "params")} for v in spec["variants"]]
    return ExperimentDesign.model_validate(spec).model_dump()


@router.get("")
def list_templates(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    filters = TemplateFilters(project_id=project_id or None)
    result = listing.list_page(session, page_request(request), Template, org_id, filters)
    return render(
        request, "design_templates_list.html", templates=result.items,
        next=next_url(request, result), projects=projects(request, session, org_id),
        base=org_url(org_id, "templates"), filters={"project_id": project_id},
    )  # fmt: skip


def _save_form(
    request: Request,
    experiment: Experiment,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request, "design_template_save.html", status, form=state(values, errors),
        experiment=experiment, action=org_url(experiment.org_id, "templates", "new"),
        cancel=org_url(experiment.org_id, "experiments", experiment.id),
    )  # fmt: skip


@router.get("/new")
def new_template(
    org_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    experiment_id: Annotated[str, Query(max_length=40)],
) -> Response:
    experiment = get(session, Experiment, org_id, experiment_id)
    values = {"experiment_id": experiment.id, "key": experiment.key, "name": experiment.name}
    return _save_form(request, experiment, values)


@router.post("/new")
def create_template(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values = sent(form)
    experiment = get(session, Experiment, org_id, values.get("experiment_id", ""))
    fields = {k: values.get(k, "") for k in ("key", "name", "description")}
    try:
        body = validate(TemplateCreate, {**fields, "project_id": experiment.project_id,
                                          "body": design_of(experiment)})  # fmt: skip
        ctx = change_context(request, viewer.principal, org_id)
        template = template_service.create(session, ctx, body)
    except AvsbError as exc:
        session.rollback()
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _save_form(request, experiment, values, api_errors(exc), code)
    return see_other(_url(template), f"Template {template.name!r} saved.")


def _show(
    request: Request,
    session: SessionDep,
    template: Template,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = values or {"project_id": template.project_id}
    return render(
        request, "design_template_detail.html", status, template=template, url=_url(template),
        form=state(values, errors), projects=projects(request, session, template.org_id),
        etag=version_tag(template.id, template.version),
    )  # fmt: skip


@router.get("/{template_id}")
def show_template(
    org_id: str, template_id: str, viewer: Read, session: SessionDep, request: Request
) -> Response:
    return _show(request, session, get(session, Template, org_id, template_id))


def _stored(template: Template) -> dict[str, str]:
    return {"name": template.name, "description": template.description,
            "body": json.dumps(template.body, indent=2)}  # fmt: skip


def _edit_form(
    request: Request,
    template: Template,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request, "design_template_form.html", status, form=state(values, errors),
        template=template, action=_url(template) + "/edit", cancel=_url(template),
        etag=version_tag(template.id, template.version),
    )  # fmt: skip


def _field_errors(exc: AvsbError) -> dict[str, str]:
    """The service's errors beside the form's fields: any path inside the design (e.g.
    ``body.variants.0.weight`` or a metric of another project) beside the JSON box."""
    out: dict[str, str] = {}
    for path, message in api_errors(exc).items():
        if path in ("name", "description", "_"):
            out.setdefault(path, message)
        else:
            where = path.removeprefix("body").lstrip(".")
            out.setdefault("body", f"{where}: {message}" if where else message)
    return out


@router.get("/{template_id}/edit")
def edit_template(
    org_id: str, template_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    template = get(session, Template, org_id, template_id)
    return _edit_form(request, template, _stored(template))


@router.post("/{template_id}/edit")
def update_template(
    org_id: str,
    template_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    template = get(session, Template, org_id, template_id)
    values = sent(form)
    if changed_since((form.get("etag") or [""])[0], template.id, template.version):
        what = f"Template {template.name!r}"
        return conflict(request, what, LABELS, values, _stored(template), _url(template), template)
    try:
        design = json.loads(values.get("body", ""))
    except json.JSONDecodeError as exc:
        return _edit_form(request, template, values, {"body": f"Not valid JSON: {exc}"}, 422)
    if not isinstance(design, dict):
        errors = {"body": "The design must be a JSON object (variants, traffic share, ...)."}
        return _edit_form(request, template, values, errors, 422)
    fields = {"name": values.get("name", ""), "description": values.get("description", ""),
              "body": design}  # fmt: skip
    try:
        spec = changes_of(validate(TemplatePatch, fields))
        ctx = change_context(request, viewer.principal, org_id)
        template_service.update(session, ctx, template, spec)
    except AvsbError as exc:
        session.rollback()
        template = get(session, Template, org_id, template_id)
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _edit_form(request, template, values, _field_errors(exc), code)
    return see_other(_url(template), f"Template {template.name!r} saved.")


@router.post("/{template_id}/use")
def use_template(
    org_id: str,
    template_id: str,
    viewer: UseIt,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    template = get(session, Template, org_id, template_id)
    values = sent(form)
    fields = {k: values.get(k, "") for k in ("project_id", "key", "name", "description")}
    try:
        body = validate(TemplateUse, fields)
        ctx = change_context(request, viewer.principal, org_id)
        experiment = template_service.use(session, ctx, template, body)
    except AvsbError as exc:
        session.rollback()
        template = get(session, Template, org_id, template_id)
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _show(request, session, template, values, api_errors(exc), code)
    url = org_url(org_id, "experiments", experiment.id)
    return see_other(url, f"Draft {experiment.name!r} created from template {template.name!r}.")


@router.get("/{template_id}/delete")
def confirm_delete(
    org_id: str, template_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    template = get(session, Template, org_id, template_id)
    return render(
        request, "confirm.html", heading=f"Delete template {template.name}?",
        message="Experiments made from it keep their design. This cannot be undone.",
        action=_url(template) + "/delete", button="Delete template", cancel=_url(template),
        fields={"etag": version_tag(template.id, template.version)},
    )  # fmt: skip


@router.post("/{template_id}/delete")
def delete_template(
    org_id: str,
    template_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    template = get(session, Template, org_id, template_id)
    if changed_since((form.get("etag") or [""])[0], template.id, template.version):
        return see_other(_url(template), "The template changed meanwhile; look again.", "error")
    ctx = change_context(request, viewer.principal, org_id)
    template_service.delete(session, ctx, template)
    return see_other(org_url(org_id, "templates"), f"Template {template.name!r} deleted.")
