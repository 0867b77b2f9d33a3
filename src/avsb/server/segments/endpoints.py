from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.design.crud import CrudSpec, Schemas, answer, design_router, load_for_write
from avsb.server.kit.http import PageDep, many
from avsb.server.kit.schemas import Envelope, ListEnvelope
from avsb.server.models import Segment, SegmentMember
from avsb.server.segments import repository
from avsb.server.segments import service as segment_service
from avsb.server.segments.schemas import (
    MemberOut,
    MembersBody,
    MembersChangeOut,
    SegmentCreate,
    SegmentFilters,
    SegmentOut,
    SegmentPatch,
)

schemas = Schemas(SegmentCreate, SegmentPatch, SegmentOut, SegmentFilters)
router = design_router("segments", CrudSpec(Segment, "segments", schemas, segment_service))
SegmentsRead = Annotated[Principal, Depends(require("segments:read"))]
SegmentsWrite = Annotated[Principal, Depends(require("segments:write"))]


@router.get("/{resource_id}/members", response_model=ListEnvelope[MemberOut])
def list_segment_members(
    org_id: str,
    resource_id: str,
    _principal: SegmentsRead,
    session: SessionDep,
    page: PageDep,
    request: Request,
) -> Response:
    segment = segment_service.get(session, org_id, resource_id)
    result = page.paginate(session, repository.members_stmt(segment.id), SegmentMember.unit_id)
    items = [MemberOut(unit_id=member.unit_id) for member in result.items]
    return many(request, items, result.next_cursor)


def _add_members_route(method: str, add: bool, summary: str) -> None:
    def change_segment_members(
        org_id: str,
        resource_id: str,
        body: MembersBody,
        principal: SegmentsWrite,
        session: SessionDep,
        request: Request,
    ) -> Response:
        segment = load_for_write(session, request, Segment, (org_id, resource_id))
        ctx = change_context(request, principal, org_id)
        changed = segment_service.change_members(session, ctx, segment, body.unit_ids, add=add)
        out = MembersChangeOut(changed=changed, member_count=segment.member_count)
        return answer(request, out, segment)

    router.add_api_route(
        "/{resource_id}/members",
        change_segment_members,
        methods=[method],
        response_model=Envelope[MembersChangeOut],
        name=f"{'add' if add else 'remove'}_segment_members",
        summary=summary,
    )


_add_members_route("POST", True, "Add unit ids to a segment (ids already in it are skipped)")
_add_members_route("DELETE", False, "Remove unit ids from a segment")
