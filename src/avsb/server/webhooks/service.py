"""Webhooks: subscriptions (audited, revisioned), the outbox ``emit`` and delivery bookkeeping.

``emit`` writes the deliveries in the caller's transaction: a rolled-back change sends nothing,
and a committed one is delivered at least once by the worker in ``delivery``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from avsb.server.auth.principal import Principal
from avsb.server.auth.scopes import grants
from avsb.server.errors import Forbidden, InvalidTransition, NotFound, field_error
from avsb.server.kit import audit, resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.kit.pagination import Page, PageRequest
from avsb.server.models import Project, Webhook, WebhookAttempt, WebhookDelivery
from avsb.server.models.base import utcnow
from avsb.server.slack import outbox as slack_outbox
from avsb.server.webhooks import netguard, repository, signing
from avsb.server.webhooks.schemas import EVENT_TYPES

_PUBLIC_FIELDS = ("id", "org_id", "project_id", "url", "event_types", "description", "enabled")


def present(webhook: Webhook) -> dict[str, Any]:
    """The public fields of a subscription (never its secret)."""
    return {
        **{name: getattr(webhook, name) for name in _PUBLIC_FIELDS},
        "disabled_reason": webhook.disabled_reason,
        "created_at": webhook.created_at,
        "updated_at": webhook.updated_at,
        "version": webhook.version,
    }


def get(session: Session, org_id: str, webhook_id: str) -> Webhook:
    return resources.get_in_org(session, Webhook, org_id, webhook_id)


def vet_url(url: str, *, allow_private: bool) -> None:
    """422 on ``url`` unless it is an http(s) URL of a public address (see ``netguard``)."""
    try:
        netguard.vet_url(url, allow_private=allow_private)
    except netguard.DestinationRefused as exc:
        raise field_error("url", str(exc)) from exc


def _check_project(session: Session, org_id: str, project_id: str | None) -> None:
    if project_id is None:
        return
    project = session.get(Project, project_id)
    if project is None or project.org_id != org_id:
        raise field_error("project_id", f"No project with id {project_id!r} in this organisation.")


# What a receiver learns from each event type, in scopes: subscribing is reading.
_EVENT_RIGHTS: dict[str, str] = {
    "experiment.": "experiments:read",
    "flag.": "flags:read",
    "results.": "results:read",
    "srm.": "results:read",
}


def event_rights(event_types: Sequence[str]) -> list[str]:
    """The read scopes a subscription to ``event_types`` delivers the data of."""
    wanted = EVENT_TYPES if "*" in event_types else set(event_types)
    return sorted(
        {
            scope
            for event in wanted
            for prefix, scope in _EVENT_RIGHTS.items()
            if event.startswith(prefix)
        }
    )


def check_event_rights(principal: Principal, event_types: Sequence[str]) -> None:
    """403 ``scope_escalation`` unless the caller may read what the subscription delivers
    (``webhooks:write`` alone must not become a way to read experiments, flags or results)."""
    missing = [s for s in event_rights(event_types) if not grants(principal.scopes, s)]
    if missing and not principal.is_admin:
        raise Forbidden(
            "A token cannot subscribe to events carrying data it cannot read itself.",
            code="scope_escalation",
            details={"scopes": missing},
        )


def of_project(session: Session, org_id: str, project_id: str) -> list[Webhook]:
    """The subscriptions bound to one project."""
    return list(session.scalars(repository.list_stmt(org_id, project_id, None)))


def create(session: Session, ctx: ChangeContext, spec: dict[str, Any]) -> tuple[Webhook, str]:
    """A new subscription and its signing secret (the only answer that shows the secret)."""
    _check_project(session, ctx.org_id, spec.get("project_id"))
    secret = signing.new_secret()
    webhook = Webhook(id=new_id("whk"), org_id=ctx.org_id, signing_secret=secret, **spec)
    resources.create(session, ctx, webhook)
    return webhook, secret


def update(session: Session, ctx: ChangeContext, webhook: Webhook, spec: dict[str, Any]) -> Webhook:
    for name, value in spec.items():
        if value is None and name != "project_id":
            raise field_error(name, f"{name} may not be null.")
    if "project_id" in spec:
        _check_project(session, ctx.org_id, spec["project_id"])
    if spec.get("enabled"):
        spec = {**spec, "disabled_reason": None}
    return resources.update(session, ctx, webhook, spec)


def rotate_secret(session: Session, ctx: ChangeContext, webhook: Webhook) -> str:
    """Replace the signing secret; the new one is returned once. Pending deliveries use it."""
    webhook.signing_secret = signing.new_secret()
    resources.touch(session, ctx, webhook, "webhook.secret_rotated", {})
    return webhook.signing_secret


def delete(session: Session, ctx: ChangeContext, webhook: Webhook) -> None:
    """Delete the subscription with its deliveries and attempts."""
    resources.delete(session, ctx, webhook)


def subscribes_to(webhook: Webhook, event_type: str) -> bool:
    return "*" in webhook.event_types or event_type in webhook.event_types


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_payload(event_type: str, data: dict[str, Any], moment: datetime) -> str:
    """The body every attempt sends: ``{"type", "timestamp", "data"}``."""
    body = {"type": event_type, "timestamp": rfc3339(moment), "data": data}
    return orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def enqueue(session: Session, webhook: Webhook, event_type: str, payload: str) -> WebhookDelivery:
    """A pending delivery of ``payload`` to ``webhook``, due now."""
    delivery = WebhookDelivery(
        id=new_id("whd"),
        org_id=webhook.org_id,
        webhook_id=webhook.id,
        event_type=event_type,
        payload=payload,
        status="pending",
        attempt_count=0,
        cycle_attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    return delivery


def emit(
    session: Session,
    org_id: str,
    event_type: str,
    data: dict[str, Any],
    project_id: str | None = None,
) -> None:
    """Queue ``event_type`` for every enabled subscription of the org that wants it.

    Writes in the caller's transaction (the outbox): nothing is sent unless it commits. A
    project-scoped subscription only sees events of its project; ``project_id=None`` events
    reach org-wide subscriptions only. ``ValueError`` for an unknown event type.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    slack_outbox.notify(session, org_id, event_type, data, project_id)
    targets = [
        w
        for w in repository.subscribers(session, org_id, project_id)
        if subscribes_to(w, event_type)
    ]
    if not targets:
        return
    payload = encode_payload(event_type, data, utcnow())
    for webhook in targets:
        enqueue(session, webhook, event_type, payload)
    session.flush()


def present_delivery(
    delivery: WebhookDelivery, attempts: Sequence[WebhookAttempt]
) -> dict[str, Any]:
    fields = ("id", "webhook_id", "event_type", "status", "attempt_count", "next_attempt_at")
    return {
        **{name: getattr(delivery, name) for name in fields},
        "payload": orjson.loads(delivery.payload),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
        "attempts": [a.as_dict() for a in attempts],
    }


def get_delivery(session: Session, webhook: Webhook, delivery_id: str) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id:
        raise NotFound(f"No delivery with id {delivery_id!r} for webhook {webhook.id!r}.")
    return delivery


def retry(session: Session, ctx: ChangeContext, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue a failed delivery again, due now, with a fresh retry schedule (same message id)."""
    if delivery.status != "failed":
        raise InvalidTransition(
            f"Only failed deliveries can be retried; this one is {delivery.status}."
        )
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.cycle_attempts = 0
    session.flush()
    audit.record(
        session,
        ctx,
        "webhook.delivery_retried",
        ("webhook", delivery.webhook_id),
        {"delivery_id": delivery.id},
    )
    return delivery


def list_page(
    session: Session,
    page: PageRequest,
    org_id: str,
    project_id: str | None = None,
    enabled: bool | None = None,
) -> Page[Webhook]:
    """One page of the organisation's subscriptions (as ``GET .../webhooks`` lists them)."""
    return page.paginate(session, repository.list_stmt(org_id, project_id, enabled), Webhook.id)


def deliveries_page(
    session: Session, page: PageRequest, webhook: Webhook, status: str | None = None
) -> tuple[Page[WebhookDelivery], dict[str, list[WebhookAttempt]]]:
    """One page of a subscription's deliveries, newest ids last, with each one's attempts."""
    result = page.paginate(
        session, repository.deliveries_stmt(webhook.id, status), WebhookDelivery.id
    )
    return result, repository.attempts_of(session, [d.id for d in result.items])
