"""Queries over webhooks, their deliveries and attempts (the only place that builds them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from avsb.server.models import Webhook, WebhookAttempt, WebhookDelivery


def list_stmt(org_id: str, project_id: str | None, enabled: bool | None) -> Select[Webhook]:
    stmt = select(Webhook).where(Webhook.org_id == org_id)
    if project_id is not None:
        stmt = stmt.where(Webhook.project_id == project_id)
    if enabled is not None:
        stmt = stmt.where(Webhook.enabled.is_(enabled))
    return stmt


def subscribers(session: Session, org_id: str, project_id: str | None) -> Sequence[Webhook]:
    """Enabled subscriptions of the org that see events of ``project_id`` (None: org-level)."""
    scope: ColumnElement[bool] = Webhook.project_id.is_(None)
    if project_id is not None:
        scope = or_(scope, Webhook.project_id == project_id)
    stmt = select(Webhook).where(Webhook.org_id == org_id, Webhook.enabled.is_(True), scope)
    return session.scalars(stmt.order_by(Webhook.id)).all()


def deliveries_stmt(webhook_id: str, status: str | None) -> Select[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return stmt


def attempts_of(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[WebhookAttempt]]:
    """Attempts of each delivery, oldest first."""
    out: dict[str, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return out
    stmt = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
    )
    for attempt in session.scalars(stmt):
        out[attempt.delivery_id].append(attempt)
    return out


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.status == "delivering", WebhookDelivery.locked_until < now),
    )


def due_ids(session: Session, now: datetime, limit: int, *, skip_locked: bool) -> list[str]:
    """Ids of deliveries due now, soonest first; ``skip_locked`` rows other workers hold."""
    stmt = (
        select(WebhookDelivery.id)
        .where(_claimable(now))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def claim(session: Session, delivery_id: str, now: datetime, lease: tuple[datetime, str]) -> bool:
    """Take the lease on a delivery if it is still claimable (a conditional UPDATE)."""
    locked_until, token = lease
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, _claimable(now))
        .values(status="delivering", locked_until=locked_until, claim_token=token)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def held(session: Session, delivery_id: str, token: str) -> WebhookDelivery | None:
    """The delivery if this worker still holds its lease (row-locked on PostgreSQL)."""
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.claim_token == token)
        .with_for_update()
    )
    return session.scalar(stmt)


def purge_finished(session: Session, before: datetime) -> int:
    """Delete delivered and failed deliveries last touched before ``before``."""
    result = session.execute(
        delete(WebhookDelivery)
        .where(
            WebhookDelivery.status.in_(("delivered", "failed")),
            WebhookDelivery.updated_at < before,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
