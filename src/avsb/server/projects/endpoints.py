from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.kit.etags import check_if_match, make_etag
from avsb.server.kit.http import PageDep, many, one
from avsb.server.kit.reads import SingleRead
from avsb.server.kit.revision_routes import add_revision_routes
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ListEnvelope
from avsb.server.models import Project
from avsb.server.projects import repository
from avsb.server.projects import service as project_service
from avsb.server.projects.schemas import ProjectCreate, ProjectOut, ProjectPatch

router = AvsbRouter(
    prefix="/api/orgs/{org_id}/projects",
    tags=["projects"],
    responses=ERROR_RESPONSES,
)
ProjectsRead = Annotated[Principal, Depends(require("projects:read"))]
ProjectsWrite = Annotated[Principal, Depends(require("projects:write"))]


def _present(project: Project) -> ProjectOut:
    return ProjectOut.model_validate(project_service.present(project))


def _out(request: Request, project: Project, status_code: int = 200) -> Response:
    etag = make_etag(project.id, project.version)
    return one(request, _present(project), etag=etag, status_code=status_code)


@router.post("", status_code=201, response_model=Envelope[ProjectOut])
def create_project(
    org_id: str,
    body: ProjectCreate,
    principal: ProjectsWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    ctx = change_context(request, principal, org_id)
    return _out(request, project_service.create(session, ctx, body.model_dump()), 201)


@router.get("", response_model=ListEnvelope[ProjectOut])
def list_projects(
    org_id: str,
    _principal: ProjectsRead,
    session: SessionDep,
    page: PageDep,
    request: Request,
    archived: Annotated[bool | None, Query()] = None,
    key_prefix: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    stmt = repository.list_stmt(org_id, archived, key_prefix)
    result = page.paginate(session, stmt, Project.id)
    return many(request, [_present(p) for p in result.items], result.next_cursor)


_SINGLE = SingleRead(Project, _present)


@router.get("/{project_id}", response_model=Envelope[ProjectOut])
async def get_project(
    org_id: str, project_id: str, _principal: ProjectsRead, request: Request
) -> Response:
    return await _SINGLE.answer(request, org_id, project_id)


@router.patch("/{project_id}", response_model=Envelope[ProjectOut])
def patch_project(
    org_id: str,
    project_id: str,
    body: ProjectPatch,
    principal: ProjectsWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    project = project_service.get(session, org_id, project_id)
    check_if_match(request, make_etag(project.id, project.version))
    spec = body.model_dump(exclude_unset=True, exclude_none=True)
    project_service.update(session, change_context(request, principal, org_id), project, spec)
    return _out(request, project)


@router.delete("/{project_id}", status_code=204)
def delete_project(
    org_id: str, project_id: str, principal: ProjectsWrite, session: SessionDep, request: Request
) -> Response:
    project = project_service.get(session, org_id, project_id)
    check_if_match(request, make_etag(project.id, project.version))
    project_service.delete(session, change_context(request, principal, org_id), project)
    return Response(status_code=204)


@router.post("/{project_id}/archive", response_model=Envelope[ProjectOut])
def archive_project(
    org_id: str, project_id: str, principal: ProjectsWrite, session: SessionDep, request: Request
) -> Response:
    project = project_service.get(session, org_id, project_id)
    check_if_match(request, make_etag(project.id, project.version))
    project_service.archive(session, change_context(request, principal, org_id), project)
    return _out(request, project)


@router.post("/{project_id}/restore", response_model=Envelope[ProjectOut])
def restore_project(
    org_id: str, project_id: str, principal: ProjectsWrite, session: SessionDep, request: Request
) -> Response:
    project = project_service.get(session, org_id, project_id)
    check_if_match(request, make_etag(project.id, project.version))
    project_service.unarchive(session, change_context(request, principal, org_id), project)
    return _out(request, project)


add_revision_routes(router, Project, "projects", ProjectOut, _present)
