"""Revision history and restore for any revisioned resource, declared in one call per router."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.kit import resources
from avsb.server.kit.etags import check_if_match, make_etag
from avsb.server.kit.http import many, one
from avsb.server.kit.schemas import Envelope, ListEnvelope
from avsb.server.models.base import Revisioned


class RevisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    action: str
    snapshot: dict[str, Any]
    actor_type: str
    actor_id: str | None
    actor_name: str
    created_at: datetime


def add_revision_routes(
    router: APIRouter,
    model: type[Revisioned],
    family: str,
    out_model: type[BaseModel],
    present: Callable[[Any], BaseModel],
) -> None:
    """Add ``GET /{id}/revisions`` and ``POST /{id}/revisions/{n}/restore`` to ``router``.

    ``present`` turns the restored object into its public model (the same one GET returns).
    """
    kind = model.__resource_type__
    read, write = require(f"{family}:read"), require(f"{family}:write")
    after_restore: Callable[[Any, Any], None] | None = getattr(model, "__after_restore__", None)

    @router.get(
        "/{resource_id}/revisions",
        response_model=ListEnvelope[RevisionOut],
        name=f"list_{kind}_revisions",
        summary=f"List the revisions of a {kind}",
    )
    def list_revisions(
        org_id: str,
        resource_id: str,
        session: SessionDep,
        request: Request,
        _principal: Principal = Depends(read),
    ) -> Response:
        obj = resources.get_in_org(session, model, org_id, resource_id)
        revisions = resources.list_revisions(session, obj)
        return many(request, [RevisionOut.model_validate(r) for r in revisions], None)

    @router.post(
        "/{resource_id}/revisions/{number}/restore",
        response_model=Envelope[out_model],  # type: ignore[valid-type]
        name=f"restore_{kind}_revision",
        summary=f"Restore a {kind} to one of its revisions",
    )
    def restore_revision(
        org_id: str,
        resource_id: str,
        session: SessionDep,
        request: Request,
        number: int = Path(ge=1, le=1_000_000),
        principal: Principal = Depends(write),
    ) -> Response:
        obj = resources.get_in_org(session, model, org_id, resource_id)
        check_if_match(request, make_etag(obj.id, obj.version))
        ctx = change_context(request, principal, org_id)
        resources.restore(session, ctx, obj, number)
        if after_restore is not None:
            after_restore(session, obj)
        return one(request, present(obj), etag=make_etag(obj.id, obj.version))
