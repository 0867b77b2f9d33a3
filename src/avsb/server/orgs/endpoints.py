from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.kit.http import PageDep, many, one
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ListEnvelope
from avsb.server.models import Organization
from avsb.server.orgs import service as org_service
from avsb.server.orgs.schemas import MeOut, OrgCreate, OrgOut

router = AvsbRouter(tags=["organizations"], responses=ERROR_RESPONSES)

AnyToken = Annotated[Principal, Depends(require(None))]
AdminToken = Annotated[Principal, Depends(require(None, admin=True))]


def require_owner() -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """Any credential of the path's organisation (404 outside it), then the owner role: 403
    ``owner_required`` for everyone but an owner and the admin token (a PAT must also hold
    every scope of the owner role). Rate-limited in the ``members`` bucket."""
    gate = require(None, family="members")

    async def dependency(request: Request) -> Principal:
        principal = await gate(request)
        org_service.check_owner(principal)
        return principal

    # What the route demands, for the access matrix test (as ``require`` does).
    dependency.required_scope = None  # type: ignore[attr-defined]
    dependency.admin_only = False  # type: ignore[attr-defined]
    dependency.owner_only = True  # type: ignore[attr-defined]
    return dependency


OwnerOfOrg = Annotated[Principal, Depends(require_owner())]


@router.get("/api/me", response_model=Envelope[MeOut])
def get_me(principal: AnyToken, session: SessionDep, request: Request) -> Response:
    org = org_service.get(session, principal.org_id) if principal.org_id else None
    person = org_service.person(session, principal)
    me = MeOut(
        token_id=principal.token_id,
        kind=principal.kind,
        name=principal.name,
        org_id=principal.org_id,
        org_name=org.name if org is not None else "",
        scopes=sorted(principal.scopes),
        is_admin=principal.is_admin,
        project_id=principal.project_id,
        user=person,
        role=principal.role,
    )
    return one(request, me)


@router.get("/api/orgs", response_model=ListEnvelope[OrgOut])
def list_orgs(
    principal: AnyToken, session: SessionDep, page: PageDep, request: Request
) -> Response:
    result = page.paginate(session, org_service.visible_orgs(principal), Organization.id)
    return many(request, [OrgOut.model_validate(o) for o in result.items], result.next_cursor)


@router.post("/api/orgs", status_code=201, response_model=Envelope[OrgOut])
def create_org(
    body: OrgCreate, principal: AdminToken, session: SessionDep, request: Request
) -> Response:
    org = org_service.create(
        session, change_context(request, principal, principal.org_id), body.name
    )
    return one(request, OrgOut.model_validate(org), status_code=201)


@router.delete("/api/orgs/{org_id}", status_code=204)
def delete_org(
    org_id: str,
    principal: OwnerOfOrg,
    session: SessionDep,
    request: Request,
    confirm: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The organisation's name, to confirm (422 `validation_error` otherwise).",
        ),
    ] = None,
) -> Response:
    """Delete the organisation: owners and the admin token only, with its name as confirmation;
    its projects must be empty (409 `org_not_empty`) and it must hold no admin token (409
    `org_protected`). Every credential of it stops at once; its audit trail stays."""
    org = org_service.get(session, org_id)
    org_service.delete(session, change_context(request, principal, org_id), principal, org, confirm)
    return Response(status_code=204)
