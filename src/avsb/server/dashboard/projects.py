"""Projects: list, create, show, edit (with the edit-conflict flow), archive and restore.

The worked example of a resource's pages (docs/dashboard.md walks through it).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormDep,
    FormState,
    NavItem,
    Viewer,
    changed_since,
    conflict_rows,
    form_failure,
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
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, Conflict, ValidationFailed
from avsb.server.models import Project
from avsb.server.projects import service
from avsb.server.projects.schemas import ProjectCreate, ProjectPatch

router = page_router(prefix="/orgs/{org_id}/projects")
Read = Annotated[Viewer, Depends(page("projects:read"))]
Write = Annotated[Viewer, Depends(page("projects:write"))]
register_nav(NavItem("Projects", "/orgs/{org_id}/projects", "projects:read", "Design", 10))

FIELDS = (("name", "Name"), ("key", "Key"), ("description", "Description"),
          ("holdout_percent", "Holdout (%)"))  # fmt: skip


def base_url(org_id: str) -> str:
    return f"/orgs/{quote(org_id, safe='')}/projects"


def project_url(project: Project) -> str:
    return f"{base_url(project.org_id)}/{quote(project.id, safe='')}"


def _values(form: dict[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    """The submitted fields the schema knows; an empty optional number or salt is left out
    (an empty description is a value: it clears the text)."""
    return {k: form[k] for k in names if k in form and (form[k] != "" or k == "description")}


def _stored(project: Project) -> dict[str, Any]:
    return {name: getattr(project, name) for name, _ in FIELDS}


@router.get("")
def list_projects(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    archived: Annotated[str, Query(pattern="^(true|false|)$")] = "false",
    key_prefix: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    flag = None if archived == "" else archived == "true"
    result = service.list_page(session, page_request(request), org_id, flag, key_prefix or None)
    first = None
    if request.query_params.get("cursor"):
        first = str(request.url.remove_query_params("cursor"))
    return render(
        request, "projects_list.html", projects=result.items, next=next_url(request, result),
        first=first, base=base_url(org_id), archived=archived, key_prefix=key_prefix,
    )  # fmt: skip


def _create_form(request: Request, org_id: str, form: FormState, status: int = 200) -> Response:
    return render(
        request, "project_form.html", status, form=form, heading="New project",
        action=base_url(org_id) + "/new", button="Create project", etag=None,
        cancel=base_url(org_id), creating=True,
    )  # fmt: skip


@router.get("/new")
def new_project(org_id: str, viewer: Write, request: Request) -> Response:
    return _create_form(request, org_id, FormState({"holdout_percent": 0}))


@router.post("/new")
def create_project(
    org_id: str, viewer: Write, form: FormDep, session: SessionDep, request: Request
) -> Response:
    values = _values(form, ("key", "name", "description", "holdout_percent", "salt"))
    try:
        body = validate(ProjectCreate, values)
        ctx = change_context(request, viewer.principal, org_id)
        project = service.create(session, ctx, body.model_dump())
    except (ValidationFailed, Conflict) as exc:
        return _create_form(request, org_id, FormState.failed(form, exc), form_failure(exc))
    return see_other(project_url(project), f"Project {project.name!r} created.")


@router.get("/{project_id}")
def show_project(
    org_id: str, project_id: str, viewer: Read, session: SessionDep, request: Request
) -> Response:
    project = service.get(session, org_id, project_id)
    links = [("Revisions", f"/orgs/{quote(org_id, safe='')}/revisions/project/{project.id}")]
    return render(
        request, "project_detail.html", project=project, url=project_url(project),
        etag=version_tag(project.id, project.version), links=links,
    )  # fmt: skip


def _edit_form(request: Request, project: Project, form: FormState, status: int = 200) -> Response:
    url = project_url(project)
    return render(
        request, "project_form.html", status, form=form, heading=f"Edit {project.name}",
        action=url + "/edit", button="Save", etag=version_tag(project.id, project.version),
        cancel=url, creating=False,
    )  # fmt: skip


@router.get("/{project_id}/edit")
def edit_project(
    org_id: str, project_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    project = service.get(session, org_id, project_id)
    return _edit_form(request, project, FormState(_stored(project)))


@router.post("/{project_id}/edit")
def update_project(
    org_id: str,
    project_id: str,
    viewer: Write,
    form: FormDep,
    session: SessionDep,
    request: Request,
) -> Response:
    project = service.get(session, org_id, project_id)
    if changed_since(form.get("etag"), project.id, project.version):
        rows = conflict_rows(FIELDS, form, _stored(project))
        return render(
            request, "conflict.html", 409, what=f"Project {project.name!r}", rows=rows,
            action=project_url(project) + "/edit", reload=project_url(project) + "/edit",
            current_etag=version_tag(project.id, project.version),
        )  # fmt: skip
    values = _values(form, tuple(name for name, _ in FIELDS))
    try:
        body = validate(ProjectPatch, values)
        spec = body.model_dump(exclude_unset=True, exclude_none=True)
        service.update(session, change_context(request, viewer.principal, org_id), project, spec)
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        project = service.get(session, org_id, project_id)
        return _edit_form(request, project, FormState.failed(form, exc), form_failure(exc))
    return see_other(project_url(project), "Project saved.")


@router.get("/{project_id}/archive")
def confirm_archive(
    org_id: str, project_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    project = service.get(session, org_id, project_id)
    url = project_url(project)
    return render(
        request, "confirm.html", heading=f"Archive {project.name}?",
        message="An archived project is hidden from the default list; its experiments and "
        "flags keep their state. You can restore it later.",
        action=url + "/archive", button="Archive project", cancel=url,
        fields={"etag": version_tag(project.id, project.version)},
    )  # fmt: skip


def _state_change(
    request: Request, viewer: Viewer, session: SessionDep, project: Project, archive: bool,
    etag: str | None,
) -> Response:  # fmt: skip
    url = project_url(project)
    if changed_since(etag, project.id, project.version):
        return see_other(url, "The project changed meanwhile; look again and retry.", "error")
    ctx = change_context(request, viewer.principal, project.org_id)
    try:
        if archive:
            service.archive(session, ctx, project)
        else:
            service.unarchive(session, ctx, project)
    except AvsbError as exc:
        return see_other(url, exc.message, "error")
    return see_other(url, "Project archived." if archive else "Project restored.")


@router.post("/{project_id}/archive")
def archive_project(
    org_id: str,
    project_id: str,
    viewer: Write,
    form: FormDep,
    session: SessionDep,
    request: Request,
) -> Response:
    project = service.get(session, org_id, project_id)
    return _state_change(request, viewer, session, project, True, form.get("etag"))


@router.post("/{project_id}/restore")
def restore_project(
    org_id: str,
    project_id: str,
    viewer: Write,
    form: FormDep,
    session: SessionDep,
    request: Request,
) -> Response:
    project = service.get(session, org_id, project_id)
    return _state_change(request, viewer, session, project, False, form.get("etag"))
