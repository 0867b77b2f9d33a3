"""Reading the audit log, and streaming it out as CSV or JSON Lines a page at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import orjson
from sqlalchemy.orm import Session

from avsb.server.audit.repository import AuditFilter as AuditFilter  # the filter pages build
from avsb.server.audit.repository import list_stmt
from avsb.server.audit.schemas import AuditEventOut
from avsb.server.db import Database
from avsb.server.kit.pagination import Page, PageRequest
from avsb.server.models import AuditEvent

EXPORT_BATCH = 500
CSV_COLUMNS = (
    "id", "occurred_at", "actor_type", "actor_id", "actor_name", "source", "ip",
    "request_id", "action", "resource_type", "resource_id", "diff",
)  # fmt: skip


def _batches(db: Database, org_id: str, f: AuditFilter) -> Iterator[list[AuditEventOut]]:
    """Keyset pages in short read transactions, so a long export holds no lock."""
    after = ""
    while True:
        with db.session(write=False) as session:
            stmt = list_stmt(org_id, f).where(AuditEvent.id > after)
            rows = list(session.scalars(stmt.order_by(AuditEvent.id).limit(EXPORT_BATCH)))
            batch = [AuditEventOut.model_validate(r) for r in rows]
        if not batch:
            return
        yield batch
        after = batch[-1].id


def export_jsonl(db: Database, org_id: str, f: AuditFilter) -> Iterator[bytes]:
    for batch in _batches(db, org_id, f):
        yield b"".join(orjson.dumps(e.model_dump(mode="json")) + b"\n" for e in batch)


def export_csv(db: Database, org_id: str, f: AuditFilter) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for batch in _batches(db, org_id, f):
        for event in batch:
            row = event.model_dump(mode="json")
            row["diff"] = orjson.dumps(row["diff"]).decode()
            writer.writerow([_csv_safe(row[c]) for c in CSV_COLUMNS])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _csv_safe(value: object) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in exported text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def list_page(session: Session, page: PageRequest, org_id: str, f: AuditFilter) -> Page[AuditEvent]:
    """One page of the organisation's audit events matching ``f`` (as ``GET .../audit``)."""
    return page.paginate(session, list_stmt(org_id, f), AuditEvent.id)
