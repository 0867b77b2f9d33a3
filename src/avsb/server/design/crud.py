"""The create / list / get / patch / delete routes (and revisions) of a design resource.

Every design resource has the same five routes; a feature declares a ``CrudSpec`` (its
model, bodies, filters and service functions) and gets them, with ETags, ``If-Match``,
the envelopes, tenancy and audit, from one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, NamedTuple, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.design import repository
from avsb.server.design.schemas import ListFilters, PatchModel
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.etags import check_if_match, make_etag
from avsb.server.kit.http import PageDep, many, one
from avsb.server.kit.reads import SingleRead
from avsb.server.kit.revision_routes import add_revision_routes
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ListEnvelope
from avsb.server.models.scoped import ProjectScoped

M = TypeVar("M", bound=ProjectScoped)


class CrudService(Protocol[M]):
    """The service module of a resource (modules satisfy protocols)."""

    def present(self, obj: M, /) -> BaseModel: ...

    def create(self, session: Session, ctx: ChangeContext, body: Any, /) -> M: ...

    def update(
        self, session: Session, ctx: ChangeContext, obj: M, spec: dict[str, Any], /
    ) -> M: ...

    def delete(self, session: Session, ctx: ChangeContext, obj: M, /) -> None: ...


class Schemas(NamedTuple):
    create: type[BaseModel]
    patch: type[PatchModel]
    out: type[BaseModel]
    filters: type[ListFilters]


@dataclass(frozen=True)
class CrudSpec(Generic[M]):
    """What the generic routes need to know about one resource."""

    model: type[M]
    family: str
    schemas: Schemas
    service: CrudService[M]


def etag_of(obj: ProjectScoped) -> str:
    return make_etag(obj.id, obj.version)


def answer(
    request: Request, out: BaseModel, obj: ProjectScoped, status_code: int = 200
) -> Response:
    """``{"data": out}`` with the ETag of ``obj``."""
    return one(request, out, etag=etag_of(obj), status_code=status_code)


def load_for_write(session: Session, request: Request, model: type[M], ids: tuple[str, str]) -> M:
    """The resource ``ids`` = (org id, resource id), after checking ``If-Match``."""
    obj = resources.get_in_org(session, model, ids[0], ids[1])
    check_if_match(request, etag_of(obj))
    return obj


def changes_of(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH sent; a nested object is replaced whole (its defaults filled in)."""
    dumped = body.model_dump()
    return {name: dumped[name] for name in body.model_fields_set}


def _with_annotation(endpoint: Callable[..., Response], name: str, kind: Any) -> None:
    # FastAPI reads parameter types from annotations: give the generic endpoint the real model.
    endpoint.__annotations__[name] = kind


def _add_create(router: APIRouter, spec: CrudSpec[M], kind: str) -> None:
    write = require(f"{spec.family}:write")

    def create(
        org_id: str,
        body: BaseModel,
        session: SessionDep,
        request: Request,
        principal: Principal = Depends(write),
    ) -> Response:
        obj = spec.service.create(session, change_context(request, principal, org_id), body)
        return answer(request, spec.service.present(obj), obj, 201)

    _with_annotation(create, "body", spec.schemas.create)
    router.add_api_route(
        "",
        create,
        methods=["POST"],
        status_code=201,
        response_model=Envelope[spec.schemas.out],  # type: ignore[name-defined]
        name=f"create_{kind}",
        summary=f"Create a {kind}",
    )


def _add_list(router: APIRouter, spec: CrudSpec[M], kind: str) -> None:
    read = require(f"{spec.family}:read")

    def list_resources(
        org_id: str,
        session: SessionDep,
        page: PageDep,
        request: Request,
        filters: ListFilters,
        _principal: Principal = Depends(read),
    ) -> Response:
        stmt = repository.list_stmt(spec.model, org_id, filters)
        result = page.paginate(session, stmt, spec.model.id)
        return many(
            request, [spec.service.present(obj) for obj in result.items], result.next_cursor
        )

    _with_annotation(list_resources, "filters", Annotated[spec.schemas.filters, Query()])
    router.add_api_route(
        "",
        list_resources,
        methods=["GET"],
        response_model=ListEnvelope[spec.schemas.out],  # type: ignore[name-defined]
        name=f"list_{kind}s",
        summary=f"List {kind}s",
    )


def _add_get(router: APIRouter, spec: CrudSpec[M], kind: str) -> None:
    read = require(f"{spec.family}:read")
    single = SingleRead(spec.model, spec.service.present)

    async def get_resource(
        org_id: str,
        resource_id: str,
        request: Request,
        _principal: Principal = Depends(read),
    ) -> Response:
        return await single.answer(request, org_id, resource_id)

    router.add_api_route(
        "/{resource_id}",
        get_resource,
        methods=["GET"],
        response_model=Envelope[spec.schemas.out],  # type: ignore[name-defined]
        name=f"get_{kind}",
        summary=f"Get a {kind}",
    )


def _add_patch(router: APIRouter, spec: CrudSpec[M], kind: str) -> None:
    write = require(f"{spec.family}:write")

    def patch_resource(
        org_id: str,
        resource_id: str,
        body: PatchModel,
        session: SessionDep,
        request: Request,
        principal: Principal = Depends(write),
    ) -> Response:
        obj = load_for_write(session, request, spec.model, (org_id, resource_id))
        ctx = change_context(request, principal, org_id)
        spec.service.update(session, ctx, obj, changes_of(body))
        return answer(request, spec.service.present(obj), obj)

    _with_annotation(patch_resource, "body", spec.schemas.patch)
    router.add_api_route(
        "/{resource_id}",
        patch_resource,
        methods=["PATCH"],
        response_model=Envelope[spec.schemas.out],  # type: ignore[name-defined]
        name=f"patch_{kind}",
        summary=f"Change a {kind}",
    )


def _add_delete(router: APIRouter, spec: CrudSpec[M], kind: str) -> None:
    write = require(f"{spec.family}:write")

    def delete_resource(
        org_id: str,
        resource_id: str,
        session: SessionDep,
        request: Request,
        principal: Principal = Depends(write),
    ) -> Response:
        obj = load_for_write(session, request, spec.model, (org_id, resource_id))
        spec.service.delete(session, change_context(request, principal, org_id), obj)
        return Response(status_code=204)

    router.add_api_route(
        "/{resource_id}",
        delete_resource,
        methods=["DELETE"],
        status_code=204,
        name=f"delete_{kind}",
        summary=f"Delete a {kind}",
    )


def add_crud_routes(router: APIRouter, spec: CrudSpec[M]) -> None:
    """Add create, list, get, patch, delete, revisions and restore for ``spec`` to ``router``."""
    kind = spec.model.__resource_type__
    _add_create(router, spec, kind)
    _add_list(router, spec, kind)
    _add_get(router, spec, kind)
    _add_patch(router, spec, kind)
    _add_delete(router, spec, kind)
    add_revision_routes(router, spec.model, spec.family, spec.schemas.out, spec.service.present)


def design_router(path: str, spec: CrudSpec[M]) -> APIRouter:
    """``/api/orgs/{org_id}/<path>`` with the CRUD and revision routes of ``spec``."""
    router = AvsbRouter(
        prefix=f"/api/orgs/{{org_id}}/{path}",
        tags=[path],
        responses=ERROR_RESPONSES,
    )
    add_crud_routes(router, spec)
    return router
