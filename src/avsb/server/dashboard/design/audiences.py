"""Audiences: list, create and edit with the rule-tree editor (every operator of the
evaluation core, segments, "not", nested groups as JSON), delete, and a "test this unit" box
showing, node by node, which rules matched."""

from __future__ import annotations

from dataclasses import astuple
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.audiences import service as audience_service
from avsb.server.audiences.conditions import segment_refs
from avsb.server.audiences.schemas import AudienceCreate, AudienceFilters, AudiencePatch
from avsb.server.dashboard.core import (
    FormListsDep,
    NavItem,
    Viewer,
    page,
    page_router,
    register_nav,
    render,
    see_other,
)
from avsb.server.dashboard.design.common import (
    CrudPages,
    Edited,
    form_target,
    get,
    org_url,
    projects,
    rule_tree_edit,
    sent,
    state,
)
from avsb.server.dashboard.forms import rule_tree
from avsb.server.dashboard.forms.common import (
    FormData,
    Parsed,
    check,
    payload_of,
    text,
)
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.models import Audience, Segment
from avsb.server.segments import service as segment_service
from avsb_sdk.evaluation.errors import ConfigError
from avsb_sdk.evaluation.targeting import SegmentDefinition

router = page_router(prefix="/orgs/{org_id}/audiences")
Read = Annotated[Viewer, Depends(page("audiences:read"))]
Write = Annotated[Viewer, Depends(page("audiences:write"))]
register_nav(NavItem("Audiences", "/orgs/{org_id}/audiences", "audiences:read", "Design", 40))
LABELS = (("name", "Name"), ("key", "Key"), ("description", "Description"),
          ("conditions.json", "Rules (JSON)"))  # fmt: skip
TREE_ROWS = 6
PREFIX = "conditions"


def _url(audience: Audience) -> str:
    return org_url(audience.org_id, "audiences", audience.id)


@router.get("")
def list_audiences(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    return PAGES.list_page(request, session, org_id, project_id)


def _rows(values: dict[str, Any]) -> int:
    used = [i for i in range(rule_tree.MAX_ROWS) if values.get(f"{PREFIX}.rows.{i}.attribute")
            or values.get(f"{PREFIX}.rows.{i}.value")]  # fmt: skip
    return min(rule_tree.MAX_ROWS, max(TREE_ROWS, (max(used) + 2) if used else 0))


def _form_page(  # noqa: PLR0913 - what the form shows
    request: Request,
    session: SessionDep,
    org_id: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    audience: Audience | None = None,
) -> Response:
    heading, action, cancel, etag = astuple(form_target(org_id, "audiences", "audience", audience))
    return render(
        request, "design_audience_form.html", status, form=state(values, errors),
        heading=heading, action=action, cancel=cancel, etag=etag, creating=audience is None,
        projects=projects(request, session, org_id), tree_rows=_rows(values),
        operators=[(o, o) for o in rule_tree.ROW_OPERATORS],
    )  # fmt: skip


def _parse(form: FormData, creating: bool) -> tuple[Parsed, list[int]]:
    parsed = Parsed()
    tree, rows = rule_tree.parse_tree(form, PREFIX, parsed)
    payload: dict[str, Any] = {
        "key": text(form, "key"), "name": text(form, "name"),
        "description": text(form, "description"), "conditions": tree or {},
    }  # fmt: skip
    if creating:
        payload["project_id"] = text(form, "project_id")
    body = check(AudienceCreate if creating else AudiencePatch, payload, parsed)
    if body is not None and parsed.ok:
        parsed.payload = payload_of(body, creating)
    return parsed, rows


@router.get("/new")
def new_audience(
    org_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    values = {"project_id": project_id, **rule_tree.tree_values(None, PREFIX)}
    return _form_page(request, session, org_id, values)


@router.post("/new")
def create_audience(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values = sent(form)
    parsed, rows = _parse(form, True)
    if not parsed.ok:
        return _form_page(request, session, org_id, values, parsed.errors, 422)
    try:
        ctx = change_context(request, viewer.principal, org_id)
        audience = audience_service.create(
            session, ctx, AudienceCreate.model_validate(parsed.payload)
        )
    except AvsbError as exc:
        session.rollback()
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        errors = rule_tree.refused_errors(exc, PREFIX, rows, values)
        return _form_page(request, session, org_id, values, errors, code)
    return see_other(_url(audience), f"Audience {audience.name!r} created.")


def _stored(audience: Audience) -> dict[str, str]:
    return rule_tree.named_values(
        audience.name, audience.key, audience.description, audience.conditions, PREFIX
    )


def _read_edit(form: FormData, audience: Audience) -> Edited:
    return rule_tree_edit(*_parse(form, False), form, PREFIX)


PAGES = CrudPages(
    Audience, collection="audiences", noun="audience", short="audience",
    filters=AudienceFilters, list_template="design_audiences_list.html", items="audiences",
    labels=LABELS, stored=_stored, form_page=_form_page, read_edit=_read_edit,
    update=audience_service.update, delete=audience_service.delete,
)  # fmt: skip


def _segments(session: Session, audience: Audience, unit_id: str) -> dict[str, SegmentDefinition]:
    """The segments the tree names, as the evaluation core needs them for this unit."""
    out: dict[str, SegmentDefinition] = {}
    for _, segment_id in segment_refs(audience.conditions):
        segment = get(session, Segment, audience.org_id, segment_id)
        out[segment_id] = segment_service.definition_for(session, segment, unit_id)
    return out


@router.get("/{audience_id}")
def show_audience(  # noqa: PLR0913 - the "test this unit" box sends its fields in the query
    org_id: str,
    audience_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    unit_id: Annotated[str, Query(max_length=256)] = "",
    attributes: Annotated[str, Query(max_length=20_000)] = "",
) -> Response:
    audience = get(session, Audience, org_id, audience_id)
    result, error = None, None
    if "unit_id" in request.query_params:
        try:
            attrs = rule_tree.parse_attributes(attributes)
            segments = _segments(session, audience, unit_id)
            result = rule_tree.explain(audience.conditions, attrs, unit_id, segments)
        except (ValueError, ConfigError) as exc:
            error = str(exc)
    return render(
        request, "design_audience_detail.html", audience=audience, url=_url(audience),
        result=result, error=error, test={"unit_id": unit_id, "attributes": attributes},
    )  # fmt: skip


@router.get("/{audience_id}/edit")
def edit_audience(
    org_id: str, audience_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    audience = get(session, Audience, org_id, audience_id)
    return _form_page(request, session, org_id, _stored(audience), audience=audience)


@router.post("/{audience_id}/edit")
def update_audience(
    org_id: str,
    audience_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.edit_page(request, session, viewer, org_id, audience_id, form)


@router.get("/{audience_id}/delete")
def confirm_delete(
    org_id: str, audience_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    audience = get(session, Audience, org_id, audience_id)
    users = audience_service.users(session, audience)
    message = "This cannot be undone."
    if users:
        message = (f"It is used by {len(users)} experiment(s) or flag(s) "
                   f"({', '.join(users[:5])}): remove it from them first.")  # fmt: skip
    return PAGES.confirm_delete_page(request, audience, message)


@router.post("/{audience_id}/delete")
def delete_audience(
    org_id: str,
    audience_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.delete_page(request, session, viewer, org_id, audience_id, form)
