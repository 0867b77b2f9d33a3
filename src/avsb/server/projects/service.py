"""Projects: create, edit, archive / restore, delete; every change audited and revisioned."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from avsb.server.errors import Conflict
from avsb.server.kit import changes, resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.kit.pagination import Page, PageRequest
from avsb.server.models import Audience, ExclusionGroup, Experiment, Flag, Project, Segment
from avsb.server.models.base import utcnow
from avsb.server.projects import repository
from avsb.server.tokens import service as token_service
from avsb.server.webhooks import service as webhook_service


def config_scope(project_id: str) -> str:
    """The change scope of everything compiled into a project's evaluation config."""
    return f"project:{project_id}"


def _config_of(obj: Experiment | Flag | Audience | Segment | ExclusionGroup) -> str:
    return config_scope(obj.project_id)


# What the evaluation config compiles: every write of these (through ``kit.resources``)
# moves the project's config version, once per transaction.
changes.scoped(Project.__resource_type__, lambda project: config_scope(project.id))
for _model in (Experiment, Flag, Audience, Segment, ExclusionGroup):
    changes.scoped(_model.__resource_type__, _config_of)


def present(project: Project) -> dict[str, Any]:
    return {
        **{c: getattr(project, c) for c in ("id", "org_id", "key", "name", "description")},
        "holdout_percent": project.holdout_percent,
        "salt": project.salt,
        "archived": project.archived_at is not None,
        "archived_at": project.archived_at,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
        "version": project.version,
    }


def get(session: Session, org_id: str, project_id: str) -> Project:
    return resources.get_in_org(session, Project, org_id, project_id)


def list_page(
    session: Session,
    page: PageRequest,
    org_id: str,
    archived: bool | None = None,
    key_prefix: str | None = None,
) -> Page[Project]:
    """One page of the organisation's projects (as ``GET .../projects`` lists them)."""
    return page.paginate(session, repository.list_stmt(org_id, archived, key_prefix), Project.id)


def create(session: Session, ctx: ChangeContext, spec: dict[str, Any]) -> Project:
    project_id = new_id("prj")
    salt = spec.pop("salt", None) or project_id
    project = Project(id=project_id, org_id=ctx.org_id, salt=salt, **spec)
    resources.create(session, ctx, project)
    return project


def update(session: Session, ctx: ChangeContext, project: Project, spec: dict[str, Any]) -> Project:
    resources.update(session, ctx, project, spec)
    return project


def archive(session: Session, ctx: ChangeContext, project: Project) -> Project:
    if project.archived_at is not None:
        raise Conflict("The project is already archived.", code="invalid_transition")
    resources.update(session, ctx, project, {"archived_at": utcnow()}, "project.archived")
    return project


def unarchive(session: Session, ctx: ChangeContext, project: Project) -> Project:
    if project.archived_at is None:
        raise Conflict("The project is not archived.", code="invalid_transition")
    resources.update(session, ctx, project, {"archived_at": None}, "project.unarchived")
    return project


MAX_LISTED = 20


def delete(session: Session, ctx: ChangeContext, project: Project) -> None:
    """Delete an empty project; its SDK keys are revoked and its webhooks deleted with it (they
    could reach nothing), each change audited.

    409 ``project_not_empty`` naming what still lives in it otherwise.
    """
    contents = repository.contents(session, project.id, MAX_LISTED + 1)
    if contents:
        listed = ", ".join(contents[:MAX_LISTED]) + (", ..." if len(contents) > MAX_LISTED else "")
        raise Conflict(
            f"The project still holds {listed}; delete those first (or archive the project).",
            code="project_not_empty",
            details={"used_by": contents[:MAX_LISTED]},
        )
    token_service.revoke_project_keys(session, ctx, project.id)
    for webhook in webhook_service.of_project(session, ctx.org_id, project.id):
        webhook_service.delete(session, ctx, webhook)  # audited, not a silent cascade
    resources.delete(session, ctx, project)
