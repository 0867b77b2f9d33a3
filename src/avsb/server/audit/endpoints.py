from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response, StreamingResponse

from avsb.server.audit import service as audit_service
from avsb.server.audit.repository import AuditFilter, list_stmt
from avsb.server.audit.schemas import AuditEventOut
from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, require
from avsb.server.kit.http import PageDep, many
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, ListEnvelope, Rfc3339
from avsb.server.models import AuditEvent
from avsb.server.runtime import runtime_of

router = AvsbRouter(
    prefix="/api/orgs/{org_id}/audit",
    tags=["audit"],
    responses=ERROR_RESPONSES,
)
AuditRead = Annotated[Principal, Depends(require("audit:read"))]


def audit_filter(
    action: Annotated[str | None, Query(max_length=80)] = None,
    resource_type: Annotated[str | None, Query(max_length=40)] = None,
    resource_id: Annotated[str | None, Query(max_length=40)] = None,
    actor_id: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[Rfc3339 | None, Query()] = None,
    until: Annotated[Rfc3339 | None, Query()] = None,
) -> AuditFilter:
    return AuditFilter(action, resource_type, resource_id, actor_id, since, until)


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("", response_model=ListEnvelope[AuditEventOut])
def list_audit_events(
    org_id: str,
    _principal: AuditRead,
    session: SessionDep,
    page: PageDep,
    filters: FilterDep,
    request: Request,
) -> Response:
    result = page.paginate(session, list_stmt(org_id, filters), AuditEvent.id)
    items = [AuditEventOut.model_validate(e) for e in result.items]
    return many(request, items, result.next_cursor)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_audit_events(
    org_id: str,
    _principal: AuditRead,
    filters: FilterDep,
    request: Request,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "jsonl",  # noqa: A002 - the API name
) -> Response:
    db = runtime_of(request).db
    if format == "csv":
        body = audit_service.export_csv(db, org_id, filters)
        media, ext = "text/csv", "csv"
    else:
        body = audit_service.export_jsonl(db, org_id, filters)
        media, ext = "application/x-ndjson", "jsonl"
    headers = {"Content-Disposition": f'attachment; filename="audit-{org_id}.{ext}"'}
    return StreamingResponse(iterate_in_threadpool(body), media_type=media, headers=headers)
