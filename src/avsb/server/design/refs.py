"""Checks that a referenced resource exists in the right org and project (422 otherwise)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from sqlalchemy.orm import Session

from avsb.server.errors import Conflict, ValidationFailed, field_error
from avsb.server.models import Project
from avsb.server.models.scoped import ProjectScoped

M = TypeVar("M", bound=ProjectScoped)


def project_for(session: Session, org_id: str, project_id: str) -> Project:
    """The org's live project ``project_id``; a 422 on ``project_id`` otherwise."""
    project = session.get(Project, project_id)
    if project is None or project.org_id != org_id:
        raise field_error("project_id", f"No project {project_id!r} in this organisation.")
    if project.archived_at is not None:
        raise field_error("project_id", f"Project {project_id!r} is archived.")
    return project


def in_project(session: Session, model: type[M], project_id: str, ref_id: str, path: str) -> M:
    """The ``model`` with id ``ref_id`` in the project; a 422 on ``path`` otherwise."""
    obj = session.get(model, ref_id)
    if obj is None or obj.project_id != project_id:
        kind = model.__resource_type__.replace("_", " ")
        raise field_error(path, f"No {kind} {ref_id!r} in this project.")
    return obj


@contextlib.contextmanager
def restoring() -> Iterator[None]:
    """Turn a 422 raised while re-checking a restored revision into a 409 (restore has no body)."""
    try:
        yield
    except ValidationFailed as exc:
        raise Conflict(
            f"The revision cannot be restored: {exc.message}", details=exc.details
        ) from exc


def ensure_unused(kind: str, used_by: list[str]) -> None:
    """409 when other resources (``used_by`` ids) still reference the one being removed."""
    if used_by:
        raise Conflict(
            f"The {kind} is still referenced by {', '.join(used_by)}; remove those first.",
            details={"used_by": used_by},
        )
