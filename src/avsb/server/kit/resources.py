"""Audited, revisioned writes for any model that declares itself ``Revisioned``.

A resource gets audit events, revisions and restore by declaring ``__resource_type__`` and
``__snapshot_fields__`` on its model; services call these helpers instead of writing their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from avsb.server.db import Database, PointQuery
from avsb.server.errors import Conflict, NotFound
from avsb.server.kit import audit, changes
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Revision
from avsb.server.models.base import Revisioned, utcnow

R = TypeVar("R", bound=Revisioned)


def get_in_org(session: Session, model: type[R], org_id: str, resource_id: str) -> R:
    """The resource with this id in this organisation, else 404 (never another org's)."""
    obj = session.get(model, resource_id)
    if obj is None or obj.org_id != org_id:
        raise NotFound(f"No {model.__resource_type__} with id {resource_id!r}.")
    return obj


def by_id_in_org(model: type[Revisioned]) -> PointQuery:
    """The point query behind ``read_in_org``: every column of one row, by id and org, named
    as the model's attributes (a column may be stored under another name)."""
    mapper = sa_inspect(model)
    table = mapper.local_table
    columns = [attr.columns[0].label(attr.key) for attr in mapper.column_attrs]
    return PointQuery(
        select(*columns).where(table.c.id == bindparam("id"), table.c.org_id == bindparam("org_id"))
    )


async def read_in_org(
    db: Database, query: PointQuery, model: type[Revisioned], org_id: str, resource_id: str
) -> Any:
    """``get_in_org`` for a read-only answer: a row (attribute access like the model), no ORM
    session (see ``Database.fetch``); 404 when not in this org."""
    rows = await db.fetch(query, id=resource_id, org_id=org_id)
    if not rows:
        raise NotFound(f"No {model.__resource_type__} with id {resource_id!r}.")
    return rows[0]


def _is_foreign_key(exc: IntegrityError) -> bool:
    """A foreign-key violation (PostgreSQL SQLSTATE 23503, SQLite's message), not a unique one."""
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "23503" or "FOREIGN KEY constraint" in str(orig)


def _flush(session: Session, obj: Revisioned) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        if _is_foreign_key(exc):  # what it refers to went away meanwhile
            raise Conflict(
                f"A resource this {obj.__resource_type__} refers to no longer exists.",
                code="reference_missing",
                details={"resource": obj.__resource_type__},
            ) from exc
        raise Conflict(
            f"A {obj.__resource_type__} with the same unique fields already exists.",
            details={"resource": obj.__resource_type__},
        ) from exc


def _add_revision(session: Session, ctx: ChangeContext, obj: Revisioned, action: str) -> None:
    last = session.scalar(
        select(func.max(Revision.number)).where(
            Revision.resource_type == obj.__resource_type__, Revision.resource_id == obj.id
        )
    )
    session.add(
        Revision(
            id=new_id("rev"),
            org_id=obj.org_id,
            resource_type=obj.__resource_type__,
            resource_id=obj.id,
            number=(last or 0) + 1,
            action=action,
            snapshot=obj.snapshot(),
            actor_type=ctx.actor.type,
            actor_id=ctx.actor.id,
            actor_name=ctx.actor.name,
        )
    )


def changed(session: Session, obj: Revisioned) -> None:
    """Bump the change scope ``obj``'s type declared (``changes.scoped``), once per
    transaction; the writes below call it, a caller that sets fields itself calls it too."""
    scope = changes.scope_of(obj.__resource_type__, obj)
    if scope is not None:
        changes.bump(session, scope)


def create(session: Session, ctx: ChangeContext, obj: R) -> R:
    """Insert ``obj`` with its first revision and a ``<type>.created`` audit event (and bump
    its declared change scope, as every write below does)."""
    session.add(obj)
    _flush(session, obj)
    action = f"{obj.__resource_type__}.created"
    audit.record(
        session, ctx, action, (obj.__resource_type__, obj.id), audit.diff(None, obj.snapshot())
    )
    _add_revision(session, ctx, obj, action)
    changed(session, obj)
    return obj


def update(
    session: Session, ctx: ChangeContext, obj: R, changes: dict[str, Any], action: str | None = None
) -> R:
    """Apply ``changes``; write an audit diff and a revision when anything changed."""
    before = obj.snapshot()
    for name, value in changes.items():
        setattr(obj, name, value)
    after = obj.snapshot()
    delta = audit.diff(before, after)
    if not delta and action is None:
        return obj
    _flush(session, obj)
    name = action or f"{obj.__resource_type__}.updated"
    audit.record(session, ctx, name, (obj.__resource_type__, obj.id), delta)
    _add_revision(session, ctx, obj, name)
    changed(session, obj)
    return obj


def touch(session: Session, ctx: ChangeContext, obj: R, action: str, details: dict[str, Any]) -> R:
    """Record a state change that is not a field edit (rotate, start, ...) and bump the version."""
    obj.updated_at = utcnow()  # a real column change, so the UPDATE bumps ``version`` too
    session.flush()
    audit.record(session, ctx, action, (obj.__resource_type__, obj.id), details)
    changed(session, obj)
    return obj


def delete(session: Session, ctx: ChangeContext, obj: Revisioned) -> None:
    """Delete ``obj``; its revisions and audit trail stay."""
    action = f"{obj.__resource_type__}.deleted"
    audit.record(
        session, ctx, action, (obj.__resource_type__, obj.id), audit.diff(obj.snapshot(), None)
    )
    changed(session, obj)
    session.delete(obj)
    try:
        session.flush()
    except IntegrityError as exc:  # a foreign key still points here: not a uniqueness clash
        kind = obj.__resource_type__.replace("_", " ")
        raise Conflict(
            f"The {kind} is still referenced by other resources; remove those first.",
            code="still_referenced",
            details={"resource": obj.__resource_type__},
        ) from exc


def list_revisions(session: Session, obj: Revisioned) -> list[Revision]:
    """Every revision of ``obj``, oldest first."""
    stmt = (
        select(Revision)
        .where(Revision.resource_type == obj.__resource_type__, Revision.resource_id == obj.id)
        .order_by(Revision.number)
    )
    return list(session.scalars(stmt))


def restore(session: Session, ctx: ChangeContext, obj: R, number: int) -> R:
    """Bring ``obj`` back to revision ``number``; the restore is itself a new revision."""
    revision = session.scalar(
        select(Revision).where(
            Revision.resource_type == obj.__resource_type__,
            Revision.resource_id == obj.id,
            Revision.number == number,
        )
    )
    if revision is None:
        raise NotFound(f"No revision {number} of {obj.__resource_type__} {obj.id!r}.")
    data = {k: v for k, v in revision.snapshot.items() if k in obj.__snapshot_fields__}
    return update(
        session, ctx, obj, _parse_snapshot(obj, data), f"{obj.__resource_type__}.restored"
    )


def _parse_snapshot(obj: Revisioned, data: dict[str, Any]) -> dict[str, Any]:
    """Snapshot values back to attribute values (datetimes were stored as ISO strings)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        current = getattr(obj, name)
        if isinstance(value, str) and (isinstance(current, datetime) or name.endswith("_at")):
            out[name] = datetime.fromisoformat(value)
        else:
            out[name] = value
    return out
