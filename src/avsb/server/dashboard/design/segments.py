"""Segments: list, create (a list of unit ids or a rule tree), edit, add / remove members,
and delete, each destructive step asking first."""

from __future__ import annotations

from dataclasses import astuple
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormListsDep,
    NavItem,
    Viewer,
    changed_since,
    page,
    page_router,
    register_nav,
    render,
    see_other,
    version_tag,
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
from avsb.server.models import Segment
from avsb.server.segments import service as segment_service
from avsb.server.segments.schemas import SegmentCreate, SegmentFilters, SegmentPatch

router = page_router(prefix="/orgs/{org_id}/segments")
Read = Annotated[Viewer, Depends(page("segments:read"))]
Write = Annotated[Viewer, Depends(page("segments:write"))]
register_nav(NavItem("Segments", "/orgs/{org_id}/segments", "segments:read", "Design", 45))
LABELS = (("name", "Name"), ("key", "Key"), ("description", "Description"),
          ("conditions.json", "Rules (JSON)"))  # fmt: skip
PREFIX = "conditions"
TREE_ROWS = 5
OPERATORS = [(o, o) for o in rule_tree.ROW_OPERATORS if o != rule_tree.SEGMENT]


def _url(segment: Segment) -> str:
    return org_url(segment.org_id, "segments", segment.id)


def unit_ids(raw: str) -> list[str]:
    """Unit ids typed one per line or separated by commas (blanks dropped)."""
    return [u.strip() for line in raw.splitlines() for u in line.split(",") if u.strip()]


@router.get("")
def list_segments(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    return PAGES.list_page(request, session, org_id, project_id)


def _form_page(  # noqa: PLR0913 - what the form shows
    request: Request,
    session: SessionDep,
    org_id: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    segment: Segment | None = None,
) -> Response:
    heading, action, cancel, etag = astuple(form_target(org_id, "segments", "segment", segment))
    return render(
        request, "design_segment_form.html", status, form=state(values, errors),
        heading=heading, action=action, cancel=cancel, etag=etag, segment=segment,
        projects=projects(request, session, org_id), tree_rows=TREE_ROWS, operators=OPERATORS,
    )  # fmt: skip


def _parse(form: FormData, segment: Segment | None) -> tuple[Parsed, list[int]]:
    parsed = Parsed()
    kind = segment.type if segment is not None else text(form, "type", "ids")
    payload: dict[str, Any] = {
        "key": text(form, "key"), "name": text(form, "name"),
        "description": text(form, "description"),
    }  # fmt: skip
    rows: list[int] = []
    if kind == "conditions":
        payload["conditions"], rows = rule_tree.parse_tree(form, PREFIX, parsed)
    if segment is None:
        payload.update(project_id=text(form, "project_id"), type=kind)
        if kind == "ids":
            payload["unit_ids"] = unit_ids(form.get("unit_ids", [""])[0])
    body = check(SegmentCreate if segment is None else SegmentPatch, payload, parsed)
    if body is not None and parsed.ok:
        parsed.payload = payload_of(body, segment is None)
    return parsed, rows


@router.get("/new")
def new_segment(
    org_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    values = {"project_id": project_id, "type": "ids", **rule_tree.tree_values(None, PREFIX)}
    return _form_page(request, session, org_id, values)


@router.post("/new")
def create_segment(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values = sent(form)
    parsed, rows = _parse(form, None)
    if not parsed.ok:
        return _form_page(request, session, org_id, values, parsed.errors, 422)
    try:
        ctx = change_context(request, viewer.principal, org_id)
        body = SegmentCreate.model_validate(parsed.payload)
        segment = segment_service.create(session, ctx, body)
    except AvsbError as exc:
        session.rollback()
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        errors = rule_tree.refused_errors(exc, PREFIX, rows, values)
        return _form_page(request, session, org_id, values, errors, code)
    return see_other(_url(segment), f"Segment {segment.name!r} created.")


def _stored(segment: Segment) -> dict[str, str]:
    return rule_tree.named_values(
        segment.name, segment.key, segment.description, segment.conditions, PREFIX
    )


def _read_edit(form: FormData, segment: Segment) -> Edited:
    return rule_tree_edit(*_parse(form, segment), form, PREFIX)


PAGES = CrudPages(
    Segment, collection="segments", noun="segment", short="segment", filters=SegmentFilters,
    list_template="design_segments_list.html", items="segments", labels=LABELS,
    stored=_stored, form_page=_form_page, read_edit=_read_edit,
    update=segment_service.update, delete=segment_service.delete,
)  # fmt: skip


@router.get("/{segment_id}")
def show_segment(
    org_id: str, segment_id: str, viewer: Read, session: SessionDep, request: Request
) -> Response:
    segment = get(session, Segment, org_id, segment_id)
    return render(
        request, "design_segment_detail.html", segment=segment, url=_url(segment),
        etag=version_tag(segment.id, segment.version), form=state({}),
    )  # fmt: skip


@router.get("/{segment_id}/edit")
def edit_segment(
    org_id: str, segment_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    segment = get(session, Segment, org_id, segment_id)
    return _form_page(request, session, org_id, _stored(segment), segment=segment)


@router.post("/{segment_id}/edit")
def update_segment(
    org_id: str,
    segment_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.edit_page(request, session, viewer, org_id, segment_id, form)


def _confirm_removal(
    request: Request, session: SessionDep, segment: Segment, ids: list[str]
) -> Response:
    """The confirmation of removing ``ids``: how many of them are members and will go, with
    the ids and the segment's version carried to the confirmed POST."""
    try:
        members = segment_service.members_among(session, segment, ids)
    except AvsbError as exc:
        return see_other(_url(segment), exc.message, "error")
    unique = list(dict.fromkeys(ids))
    if not members:
        message = f"None of the {len(unique)} unit id(s) is a member; nothing removed."
        return see_other(_url(segment), message, "error")
    shown = ", ".join(members[:5]) + (", …" if len(members) > 5 else "")
    skipped = len(unique) - len(members)
    message = (f"{len(members)} member(s) will be removed from segment {segment.name!r} "
               f"({shown})" + (f"; {skipped} unit id(s) typed are not members" if skipped else "")
               + ". This cannot be undone.")  # fmt: skip
    fields = {"unit_ids": ", ".join(unique), "change": "remove", "confirmed": "yes",
              "etag": version_tag(segment.id, segment.version)}  # fmt: skip
    return render(
        request, "confirm.html", heading=f"Remove {len(members)} member(s) from {segment.name}?",
        message=message, action=_url(segment) + "/members", button="Remove members",
        cancel=_url(segment), fields=fields,
    )  # fmt: skip


@router.post("/{segment_id}/members")
def change_members(
    org_id: str,
    segment_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    """Add or remove the ids typed in the members box (``change`` = add / remove). Removing
    asks first: without ``confirmed`` the answer is the confirmation page, whose button posts
    the same ids again with ``confirmed`` and the version it was shown for."""
    segment = get(session, Segment, org_id, segment_id)
    ids = unit_ids(form.get("unit_ids", [""])[0])
    add = text(form, "change") != "remove"
    if not ids:
        return see_other(_url(segment), "Type at least one unit id.", "error")
    if not add and text(form, "confirmed") != "yes":
        return _confirm_removal(request, session, segment, ids)
    if not add and changed_since((form.get("etag") or [""])[0], segment.id, segment.version):
        return see_other(_url(segment), "The segment changed meanwhile; look again.", "error")
    try:
        ctx = change_context(request, viewer.principal, org_id)
        changed = segment_service.change_members(session, ctx, segment, ids, add=add)
    except AvsbError as exc:
        session.rollback()
        return see_other(_url(segment), exc.message, "error")
    return see_other(_url(segment), f"{changed} unit(s) {'added' if add else 'removed'}.")


@router.get("/{segment_id}/delete")
def confirm_delete(
    org_id: str, segment_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    segment = get(session, Segment, org_id, segment_id)
    users = segment_service.users(session, segment)
    message = "Its members are deleted with it. This cannot be undone."
    if users:
        message = (f"It is used by {len(users)} audience(s) or flag(s) "
                   f"({', '.join(users[:5])}): remove it from them first.")  # fmt: skip
    return PAGES.confirm_delete_page(request, segment, message)


@router.post("/{segment_id}/delete")
def delete_segment(
    org_id: str,
    segment_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.delete_page(request, session, viewer, org_id, segment_id, form)
