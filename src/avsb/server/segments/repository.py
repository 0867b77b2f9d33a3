from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Select, Table, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from avsb.server.models import Segment, SegmentMember

_CHUNK = 1000
_members = cast(Table, SegmentMember.__table__)


def ids_in_project(session: Session, project_id: str, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are segments of the project."""
    wanted = set(ids)
    if not wanted:
        return set()
    stmt = select(Segment.id).where(Segment.project_id == project_id, Segment.id.in_(wanted))
    return set(session.scalars(stmt))


def insert_members(session: Session, segment_id: str, unit_ids: Sequence[str]) -> None:
    """Bulk-insert members of a new segment (``unit_ids`` without duplicates), executemany."""
    if unit_ids:
        rows = [{"segment_id": segment_id, "unit_id": unit_id} for unit_id in unit_ids]
        session.execute(insert(_members), rows)


def add_members(session: Session, segment_id: str, unit_ids: Sequence[str]) -> None:
    """Bulk-insert members, skipping ids that are members already."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(_members).on_conflict_do_nothing()
    session.execute(stmt, [{"segment_id": segment_id, "unit_id": u} for u in unit_ids])


def remove_members(session: Session, segment_id: str, unit_ids: Sequence[str]) -> None:
    for start in range(0, len(unit_ids), _CHUNK):
        chunk = unit_ids[start : start + _CHUNK]
        session.execute(
            delete(_members).where(
                _members.c.segment_id == segment_id, _members.c.unit_id.in_(chunk)
            )
        )


def members_among(session: Session, segment_id: str, unit_ids: Sequence[str]) -> list[str]:
    """Which of ``unit_ids`` are members of the segment (in their order)."""
    found: set[str] = set()
    for start in range(0, len(unit_ids), _CHUNK):
        chunk = unit_ids[start : start + _CHUNK]
        stmt = select(_members.c.unit_id).where(
            _members.c.segment_id == segment_id, _members.c.unit_id.in_(chunk)
        )
        found.update(session.scalars(stmt))
    return [u for u in unit_ids if u in found]


def count_members(session: Session, segment_id: str) -> int:
    stmt = select(func.count()).select_from(_members).where(_members.c.segment_id == segment_id)
    return int(session.scalar(stmt) or 0)


def members_stmt(segment_id: str) -> Select[SegmentMember]:
    return select(SegmentMember).where(SegmentMember.segment_id == segment_id)


def unit_ids(session: Session, segment_id: str) -> list[str]:
    """Every member of a segment (for compiling the evaluation config)."""
    stmt = select(_members.c.unit_id).where(_members.c.segment_id == segment_id)
    return list(session.scalars(stmt))


def has_member(session: Session, segment_id: str, unit_id: str) -> bool:
    """Whether ``unit_id`` is a member of the segment (one primary-key lookup)."""
    return session.get(SegmentMember, (segment_id, unit_id)) is not None
