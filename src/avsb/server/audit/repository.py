from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select

from avsb.server.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    actor_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_stmt(org_id: str, f: AuditFilter) -> Select[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if f.action:
        # "experiment.*" selects a whole family of actions.
        if f.action.endswith(".*"):
            stmt = stmt.where(AuditEvent.action.startswith(f.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == f.action)
    if f.resource_type:
        stmt = stmt.where(AuditEvent.resource_type == f.resource_type)
    if f.resource_id:
        stmt = stmt.where(AuditEvent.resource_id == f.resource_id)
    if f.actor_id:
        stmt = stmt.where(AuditEvent.actor_id == f.actor_id)
    if f.since:
        stmt = stmt.where(AuditEvent.occurred_at >= f.since)
    if f.until:
        stmt = stmt.where(AuditEvent.occurred_at < f.until)
    return stmt
