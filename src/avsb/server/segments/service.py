"""Segments: a list of unit ids or a rule tree; usable in audiences and flag rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from avsb.server.audiences import conditions
from avsb.server.audiences import repository as audience_repository
from avsb.server.design import refs
from avsb.server.errors import BadRequest, field_error
from avsb.server.flags import repository as flag_repository
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Segment
from avsb.server.segments import repository
from avsb.server.segments.schemas import SegmentCreate, SegmentOut
from avsb_sdk.evaluation.conditions import parse_condition
from avsb_sdk.evaluation.targeting import SegmentDefinition


def present(segment: Segment) -> SegmentOut:
    return SegmentOut.model_validate(segment)


def get(session: Session, org_id: str, segment_id: str) -> Segment:
    return resources.get_in_org(session, Segment, org_id, segment_id)


def check_body(kind: str, tree: dict[str, Any] | None, unit_ids: list[str] | None) -> None:
    """The rules of a segment body its schema cannot express (``kind`` "ids" or "conditions")."""
    if kind == "ids" and tree is not None:
        raise field_error("conditions", 'An "ids" segment has members, not conditions.')
    if kind == "conditions":
        if unit_ids is not None:
            raise field_error("unit_ids", 'A "conditions" segment has conditions, not members.')
        if tree is None:
            raise field_error("conditions", 'A "conditions" segment needs conditions.')
        conditions.check_segment_tree(tree, "conditions")


def create(session: Session, ctx: ChangeContext, body: SegmentCreate) -> Segment:
    refs.project_for(session, ctx.org_id, body.project_id)
    check_body(body.type, body.conditions, body.unit_ids)
    unit_ids = list(dict.fromkeys(body.unit_ids or ()))
    segment = Segment(
        id=new_id("seg"),
        org_id=ctx.org_id,
        member_count=len(unit_ids),
        **body.model_dump(exclude={"unit_ids"}),
    )
    resources.create(session, ctx, segment)
    repository.insert_members(session, segment.id, unit_ids)
    return segment


def update(session: Session, ctx: ChangeContext, segment: Segment, spec: dict[str, Any]) -> Segment:
    if "conditions" in spec:
        if segment.type != "conditions":
            raise field_error("conditions", 'An "ids" segment has members, not conditions.')
        tree = spec["conditions"]
        conditions.validate(session, segment.project_id, tree, "conditions", segments=False)
    resources.update(session, ctx, segment, spec)
    return segment


def users(session: Session, segment: Segment) -> list[str]:
    """Ids of the audiences and flags whose conditions reference ``segment``."""
    found = [
        audience.id
        for audience in audience_repository.in_project(session, segment.project_id)
        if any(ref == segment.id for _, ref in conditions.segment_refs(audience.conditions))
    ]
    for flag in flag_repository.in_project(session, segment.project_id):
        trees = [rule.get("conditions") for rule in flag.rules]
        if any(ref == segment.id for tree in trees for _, ref in conditions.segment_refs(tree)):
            found.append(flag.id)
    return found


def delete(session: Session, ctx: ChangeContext, segment: Segment) -> None:
    refs.ensure_unused("segment", users(session, segment))
    resources.delete(session, ctx, segment)


def _require_ids(segment: Segment) -> None:
    if segment.type != "ids":
        raise BadRequest(
            'Only an "ids" segment has members; this one is defined by conditions.',
            code="segment_type_mismatch",
        )


def change_members(
    session: Session, ctx: ChangeContext, segment: Segment, unit_ids: list[str], *, add: bool
) -> int:
    """Add (or remove) members; returns how many ids were actually added (or removed)."""
    _require_ids(segment)
    unique = list(dict.fromkeys(unit_ids))
    if add:
        repository.add_members(session, segment.id, unique)
    else:
        repository.remove_members(session, segment.id, unique)
    before, after = segment.member_count, repository.count_members(session, segment.id)
    segment.member_count = after
    action = "segment.members_added" if add else "segment.members_removed"
    resources.touch(session, ctx, segment, action, {"member_count": {"from": before, "to": after}})
    return abs(after - before)


def members_among(session: Session, segment: Segment, unit_ids: list[str]) -> list[str]:
    """Which of ``unit_ids`` (duplicates dropped) are members: what removing them would remove
    (the dashboard's confirmation says how many)."""
    _require_ids(segment)
    return repository.members_among(session, segment.id, list(dict.fromkeys(unit_ids)))


def definition_for(session: Session, segment: Segment, unit_id: str) -> SegmentDefinition:
    """What the evaluation core needs to decide ``segment`` for one unit: its rule tree, or
    (an "ids" segment) the unit itself when it is a member (the dashboard's "test this unit")."""
    if segment.type == "conditions" and segment.conditions is not None:
        return parse_condition(segment.conditions)
    member = repository.has_member(session, segment.id, unit_id)
    return frozenset({unit_id}) if member else frozenset()
