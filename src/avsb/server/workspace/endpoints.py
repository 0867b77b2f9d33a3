from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import Body, Depends, Query, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.kit.http import one
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope
from avsb.server.responses import JSONBytes
from avsb.server.runtime import runtime_of
from avsb.server.workspace import service as workspace_service
from avsb.server.workspace.schemas import WorkspaceDocument, WorkspaceImport, WorkspaceValidation

router = AvsbRouter(
    prefix="/api/orgs/{org_id}/workspace", tags=["workspace"], responses=ERROR_RESPONSES
)
WorkspaceRead = Annotated[Principal, Depends(require("workspace:read"))]
WorkspaceWrite = Annotated[Principal, Depends(require("workspace:write"))]
# Any JSON object: a document's problems are reported, not refused by the request parser.
Document = Annotated[
    dict[str, Any],
    Body(description="A workspace document as the export answers it: see WorkspaceDocument"),
]


OnGroupIdConflict = Annotated[
    Literal["refuse", "renumber"],
    Query(
        description="When the organisation already holds a group id of the document: refuse "
        "the import (409 group_id_conflict) or give those variants new numbers"
    ),
]


def _allow_private(request: Request) -> bool:
    return runtime_of(request).settings.webhooks_allow_private_networks


@router.get(
    "/export",
    response_model=WorkspaceDocument,
    summary="The whole organisation as one workspace document (no secrets)",
)
def export_workspace(org_id: str, _principal: WorkspaceRead, session: SessionDep) -> Response:
    document = workspace_service.export_document(session, org_id)
    body = orjson.dumps(document, option=orjson.OPT_UTC_Z)
    disposition = f'attachment; filename="avsb-workspace-{org_id}.json"'
    return JSONBytes(body, headers={"Content-Disposition": disposition})


@router.post(
    "/validate",
    response_model=Envelope[WorkspaceValidation],
    summary="Every problem of a workspace document, without writing anything",
)
def validate_workspace(
    org_id: str, body: Document, _principal: WorkspaceRead, request: Request
) -> Response:
    problems = workspace_service.validate_document(body, allow_private=_allow_private(request))
    return one(request, WorkspaceValidation(valid=not problems, problems=problems))


@router.post(
    "/import",
    status_code=201,
    response_model=Envelope[WorkspaceImport],
    summary="Rebuild a workspace document in this (empty) organisation",
)
def import_workspace(
    org_id: str,
    body: Document,
    principal: WorkspaceWrite,
    session: SessionDep,
    request: Request,
    on_group_id_conflict: OnGroupIdConflict = "refuse",
) -> Response:
    ctx = change_context(request, principal, org_id)
    result = workspace_service.import_document(
        session,
        ctx,
        body,
        allow_private=_allow_private(request),
        on_group_id_conflict=on_group_id_conflict,
    )
    return one(request, result, status_code=201)
