"""The audit log: every state change writes one event in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import AuditEvent

_REDACTED = "[redacted]"
_SECRET_FIELDS = frozenset({"secret", "token", "token_hash", "previous_hash", "signing_secret"})


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{field: {"from": old, "to": new}}`` for every field that differs (secrets redacted)."""
    before = before or {}
    after = after or {}
    out: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            if name in _SECRET_FIELDS:
                old, new = (_REDACTED if old is not None else None), _REDACTED
            out[name] = {"from": old, "to": new}
    return out


def record(
    session: Session,
    ctx: ChangeContext,
    action: str,
    resource: tuple[str, str],
    changes: dict[str, Any],
) -> AuditEvent:
    """Add an audit event for ``action`` on ``resource`` (type, id) to the current transaction."""
    event = AuditEvent(
        id=new_id("evt"),
        org_id=ctx.org_id,
        actor_type=ctx.actor.type,
        actor_id=ctx.actor.id,
        actor_name=ctx.actor.name,
        actor_token_id=ctx.actor.token_id,
        source=ctx.source,
        ip=ctx.ip,
        request_id=ctx.request_id,
        action=action,
        resource_type=resource[0],
        resource_id=resource[1],
        diff=changes,
    )
    session.add(event)
    return event
