"""Exclusion groups (layers): list, create, edit, delete, and a bar showing how each group's
traffic is shared among its experiments and what is still free."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormListsDep,
    NavItem,
    Viewer,
    page,
    page_router,
    register_nav,
    render,
    see_other,
    validate,
)
from avsb.server.dashboard.design.common import (
    CrudPages,
    Edited,
    form_target,
    get,
    org_url,
    projects,
    sent,
    state,
)
from avsb.server.dashboard.forms.common import FormData, api_errors
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.exclusion_groups import service as group_service
from avsb.server.exclusion_groups.schemas import (
    ExclusionGroupCreate,
    ExclusionGroupFilters,
    ExclusionGroupPatch,
)
from avsb.server.models import ExclusionGroup, Experiment

router = page_router(prefix="/orgs/{org_id}/exclusion-groups")
Read = Annotated[Viewer, Depends(page("exclusion_groups:read"))]
Write = Annotated[Viewer, Depends(page("exclusion_groups:write"))]
register_nav(
    NavItem(
        "Exclusion groups", "/orgs/{org_id}/exclusion-groups", "exclusion_groups:read", "Design", 25
    )
)
BUCKETS = 10_000
LABELS = (("name", "Name"), ("key", "Key"), ("description", "Description"))


@dataclass(frozen=True)
class Share:
    """One experiment's part of a group: its ranges as percent of the bar."""

    experiment_id: str
    name: str
    status: str
    percent: float
    ranges: list[tuple[float, float]]  # (start %, width %)
    colour: int


def shares(session: Session, group: ExclusionGroup) -> tuple[list[Share], float]:
    """Who holds which buckets of ``group``, and the free percent."""
    out: list[Share] = []
    for i, (experiment_id, ranges) in enumerate(
        sorted(group_service.allocations(session, group.id).items())
    ):
        experiment = get(session, Experiment, group.org_id, experiment_id)
        held = sum(end - start for start, end in ranges)
        out.append(
            Share(
                experiment.id, experiment.name, experiment.status, held * 100 / BUCKETS,
                [(start * 100 / BUCKETS, (end - start) * 100 / BUCKETS) for start, end in ranges],
                i % 8,
            )
        )  # fmt: skip
    free = 100 - sum(s.percent for s in out)
    return out, round(max(free, 0.0), 4)


def _url(group: ExclusionGroup) -> str:
    return org_url(group.org_id, "exclusion-groups", group.id)


@router.get("")
def list_groups(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    def bars(groups: Sequence[ExclusionGroup]) -> dict[str, Any]:
        return {"bars": {g.id: shares(session, g) for g in groups}}

    return PAGES.list_page(request, session, org_id, project_id, bars)


def _form_page(  # noqa: PLR0913 - what the form shows
    request: Request,
    session: SessionDep,
    org_id: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    group: ExclusionGroup | None = None,
) -> Response:
    heading, action, cancel, etag = astuple(
        form_target(org_id, "exclusion-groups", "exclusion group", group)
    )
    return render(
        request, "design_group_form.html", status, form=state(values, errors), heading=heading,
        action=action, cancel=cancel, etag=etag, creating=group is None,
        projects=projects(request, session, org_id),
    )  # fmt: skip


@router.get("/new")
def new_group(
    org_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    return _form_page(request, session, org_id, {"project_id": project_id})


@router.post("/new")
def create_group(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values = sent(form)
    fields = {k: values.get(k, "") for k in ("project_id", "key", "name", "description")}
    try:
        body = validate(ExclusionGroupCreate, fields)
        group = group_service.create(
            session, change_context(request, viewer.principal, org_id), body
        )
    except AvsbError as exc:
        session.rollback()
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _form_page(request, session, org_id, values, api_errors(exc), code)
    return see_other(_url(group), f"Exclusion group {group.name!r} created.")


@router.get("/{group_id}")
def show_group(
    org_id: str, group_id: str, viewer: Read, session: SessionDep, request: Request
) -> Response:
    group = get(session, ExclusionGroup, org_id, group_id)
    bar, free = shares(session, group)
    return render(
        request, "design_group_detail.html", group=group, url=_url(group), bar=bar, free=free,
        new_experiment=org_url(org_id, "experiments", "new", project_id=group.project_id),
    )  # fmt: skip


def _stored(group: ExclusionGroup) -> dict[str, str]:
    return {"name": group.name, "key": group.key, "description": group.description}


def _read_edit(form: FormData, group: ExclusionGroup) -> Edited:
    values = sent(form)
    try:
        body = validate(ExclusionGroupPatch, {k: values.get(k, "") for k, _ in LABELS})
    except AvsbError as exc:
        return Edited(None, api_errors(exc))
    return Edited(body.model_dump(exclude_unset=True))


PAGES = CrudPages(
    ExclusionGroup, collection="exclusion-groups", noun="exclusion group", short="group",
    filters=ExclusionGroupFilters, list_template="design_groups_list.html", items="groups",
    labels=LABELS, stored=_stored, form_page=_form_page, read_edit=_read_edit,
    update=group_service.update, delete=group_service.delete,
)  # fmt: skip


@router.get("/{group_id}/edit")
def edit_group(
    org_id: str, group_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    group = get(session, ExclusionGroup, org_id, group_id)
    return _form_page(request, session, org_id, _stored(group), group=group)


@router.post("/{group_id}/edit")
def update_group(
    org_id: str,
    group_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.edit_page(request, session, viewer, org_id, group_id, form)


@router.get("/{group_id}/delete")
def confirm_delete(
    org_id: str, group_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    group = get(session, ExclusionGroup, org_id, group_id)
    message = ("Only a group no experiment belongs to (archived ones included) can be deleted. "
               "This cannot be undone.")  # fmt: skip
    return PAGES.confirm_delete_page(request, group, message)


@router.post("/{group_id}/delete")
def delete_group(
    org_id: str,
    group_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.delete_page(request, session, viewer, org_id, group_id, form)
