"""Reading design resources a page at a time or as the options of a select: the service the
dashboard's lists call (the API's list routes share its query, ``repository.list_stmt``)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from avsb.server.design import repository
from avsb.server.kit.pagination import Page, PageRequest
from avsb.server.models.scoped import ProjectScoped

M = TypeVar("M", bound=ProjectScoped)
MAX_OPTIONS = 500


def list_page(
    session: Session,
    page: PageRequest,
    model: type[M],
    org_id: str,
    filters: BaseModel,
    created_by: str | None = None,
) -> Page[M]:
    """One page of ``model`` rows of the org matching ``filters`` (as ``GET`` lists them),
    only those ``created_by`` this actor id when given."""
    stmt = repository.list_stmt(model, org_id, filters)
    if created_by is not None:
        stmt = repository.created_by(model, stmt, created_by)
    return page.paginate(session, stmt, model.id)


def options(
    session: Session, model: type[M], org_id: str, project_id: str | None = None
) -> list[M]:
    """The rows a select offers (by key, at most ``MAX_OPTIONS``)."""
    return list(session.scalars(repository.by_key(model, org_id, project_id, MAX_OPTIONS)))
