"""Experiment templates: list, save an experiment's design as a template, use a template
(a new draft experiment with its design), edit its name, description and design (the experiment
form's design fields, parsed by the experiment form's codec; or, as an advanced alternative,
the design as JSON), with the edit-conflict flow, and delete (after confirmation)."""

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
from avsb.server.dashboard.design.experiments import LABELS as EXPERIMENT_LABELS
from avsb.server.dashboard.design.experiments import design_choices
from avsb.server.dashboard.forms.common import api_errors
from avsb.server.dashboard.forms.experiment_form import (
    MAX_VARIANTS,
    design_values,
    map_errors,
    parse_design,
    variant_row_count,
)
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
"""What the conflict page compares after an edit as JSON."""
FORM_LABELS = (
    ("name", "Name"),
    ("description", "Description"),
    *[(n, label) for n, label in EXPERIMENT_LABELS if n not in ("name", "key", "description")],
)
"""What the conflict page compares after an edit with the design form (the variants, params and
metric roles follow, named by their fields)."""


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
    """The JSON edit's fields showing the stored template."""
    return {"name": template.name, "description": template.description,
            "body": json.dumps(template.body, indent=2)}  # fmt: skip


def _form_values(template: Template) -> dict[str, str]:
    """The design form's fields showing the stored template (its body with the schema's
    defaults filled in, as the API would answer it)."""
    try:
        design = ExperimentDesign.model_validate(template.body).model_dump()
    except ValueError:  # an old body the schema no longer takes: show what is there
        design = dict(template.body)
    return {"name": template.name, "description": template.description,
            **design_values(design)}  # fmt: skip


def _edit_form(
    request: Request,
    session: SessionDep,
    template: Template,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The edit page: the design form, or the JSON box when ``values`` carry a ``body``."""
    as_json = "body" in values
    choices = {} if as_json else design_choices(request, session, template.org_id,
                                                template.project_id)  # fmt: skip
    return render(
        request, "design_template_form.html", status, form=state(values, errors),
        template=template, action=_url(template) + "/edit", cancel=_url(template),
        etag=version_tag(template.id, template.version), as_json=as_json, frozen=False,
        rows=variant_row_count(values), max_variants=MAX_VARIANTS, **choices,
    )  # fmt: skip


def _field_errors(exc: AvsbError) -> dict[str, str]:
    """The service's errors beside the JSON edit's fields: any path inside the design (e.g.
    ``body.variants.0.weight`` or a metric of another project) beside the JSON box."""
    out: dict[str, str] = {}
    for path, message in api_errors(exc).items():
        if path in ("name", "description", "_"):
            out.setdefault(path, message)
        else:
            where = path.removeprefix("body").lstrip(".")
            out.setdefault("body", f"{where}: {message}" if where else message)
    return out


def _design_errors(exc: AvsbError, rows: list[int], roles: dict[str, list[str]]) -> dict[str, str]:
    """The service's errors beside the design form's fields: ``body.variants.1.weight`` is
    the weight of the second variant row sent, ``body.audience_id`` the audience select."""
    paths: dict[str, str] = {}
    for path, message in api_errors(exc).items():
        where = path.removeprefix("body.")
        paths.setdefault("_" if where == "body" else where, message)
    return map_errors(paths, rows, roles)


@router.get("/{template_id}/edit")
def edit_template(
    org_id: str,
    template_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    view: Annotated[str, Query(alias="as", pattern="^(json|form|)$")] = "",
) -> Response:
    """The design form; ``?as=json`` the advanced alternative, the design as one JSON box."""
    template = get(session, Template, org_id, template_id)
    values = _stored(template) if view == "json" else _form_values(template)
    return _edit_form(request, session, template, values)


def _json_design(values: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """The JSON box's design, or the error beside it."""
    try:
        design = json.loads(values.get("body", ""))
    except json.JSONDecodeError as exc:
        return None, {"body": f"Not valid JSON: {exc}"}
    if not isinstance(design, dict):
        return None, {"body": "The design must be a JSON object (variants, traffic share, ...)."}
    return design, {}


@router.post("/{template_id}/edit")
def update_template(
    org_id: str,
    template_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    """Save the design form (or the JSON box, when the form sent a ``body``); a form read
    before the template's last save gets the conflict page and changes nothing."""
    template = get(session, Template, org_id, template_id)
    values = sent(form)
    as_json = "body" in form
    if changed_since((form.get("etag") or [""])[0], template.id, template.version):
        what = f"Template {template.name!r}"
        labels, current = (LABELS, _stored(template)) if as_json else (
            FORM_LABELS, _form_values(template))  # fmt: skip
        return conflict(request, what, labels, values, current, _url(template), template)
    rows: list[int] = []
    roles: dict[str, list[str]] = {}
    if as_json:
        design, errors = _json_design(values)
    else:
        parsed, rows, roles = parse_design(form)
        design, errors = parsed.payload, parsed.errors
    fields = {"name": values.get("name", ""), "description": values.get("description", ""),
              "body": design}  # fmt: skip
    if errors:  # the name's errors too, beside the design's
        try:
            validate(TemplatePatch, {**fields, "body": None})
        except AvsbError as exc:
            errors = {**_field_errors(exc), **errors}
        return _edit_form(request, session, template, values, errors, 422)
    try:
        spec = changes_of(validate(TemplatePatch, fields))
        ctx = change_context(request, viewer.principal, org_id)
        template_service.update(session, ctx, template, spec)
    except AvsbError as exc:
        session.rollback()
        template = get(session, Template, org_id, template_id)
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        found = _field_errors(exc) if as_json else _design_errors(exc, rows, roles)
        return _edit_form(request, session, template, values, found, code)
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
