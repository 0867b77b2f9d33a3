from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
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
