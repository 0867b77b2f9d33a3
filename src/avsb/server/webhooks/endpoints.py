from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.kit.etags import check_if_match, make_etag
from avsb.server.kit.http import PageDep, many, one
from avsb.server.kit.reads import SingleRead
from avsb.server.kit.revision_routes import add_revision_routes
from avsb.server.kit.routing import AvsbRoute
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ListEnvelope
from avsb.server.models import Webhook, WebhookDelivery
from avsb.server.runtime import runtime_of
from avsb.server.webhooks import delivery as webhook_delivery
from avsb.server.webhooks import repository
from avsb.server.webhooks import service as webhook_service
from avsb.server.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryStatus,
    WebhookCreate,
    WebhookOut,
    WebhookPatch,
    WebhookTestOut,
    WebhookWithSecretOut,
)
from avsb.server.webhooks.sender import AttemptResult, RetryPolicy, Sender

router = APIRouter(
    prefix="/api/orgs/{org_id}/webhooks",
    route_class=AvsbRoute,
    tags=["webhooks"],
    responses=ERROR_RESPONSES,
)
WebhooksRead = Annotated[Principal, Depends(require("webhooks:read"))]
WebhooksWrite = Annotated[Principal, Depends(require("webhooks:write"))]


def _present(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(webhook_service.present(webhook))


def _out(
    request: Request, webhook: Webhook, secret: str | None = None, status: int = 200
) -> Response:
    etag = make_etag(webhook.id, webhook.version)
    if secret is None:
        return one(request, _present(webhook), etag=etag, status_code=status)
    body = WebhookWithSecretOut.model_validate(
        {**webhook_service.present(webhook), "secret": secret}
    )
    return one(request, body, etag=etag, status_code=status)


def _allow_private(request: Request) -> bool:
    return runtime_of(request).settings.webhooks_allow_private_networks


@router.post("", status_code=201, response_model=Envelope[WebhookWithSecretOut])
def create_webhook(
    org_id: str,
    body: WebhookCreate,
    principal: WebhooksWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    webhook_service.check_event_rights(principal, body.event_types)
    # The URL is vetted (with DNS) before the transaction starts, so no lock waits on DNS.
    webhook_service.vet_url(body.url, allow_private=_allow_private(request))
    ctx = change_context(request, principal, org_id)
    webhook, secret = webhook_service.create(session, ctx, body.model_dump())
    return _out(request, webhook, secret, 201)


@router.get("", response_model=ListEnvelope[WebhookOut])
def list_webhooks(
    org_id: str,
    _principal: WebhooksRead,
    session: SessionDep,
    page: PageDep,
    request: Request,
    project_id: Annotated[str | None, Query(max_length=40)] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> Response:
    stmt = repository.list_stmt(org_id, project_id, enabled)
    result = page.paginate(session, stmt, Webhook.id)
    return many(request, [_present(w) for w in result.items], result.next_cursor)


_SINGLE = SingleRead(Webhook, _present)


@router.get("/{webhook_id}", response_model=Envelope[WebhookOut])
async def get_webhook(
    org_id: str, webhook_id: str, _principal: WebhooksRead, request: Request
) -> Response:
    return await _SINGLE.answer(request, org_id, webhook_id)


@router.patch("/{webhook_id}", response_model=Envelope[WebhookOut])
def patch_webhook(
    org_id: str,
    webhook_id: str,
    body: WebhookPatch,
    principal: WebhooksWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    spec = body.model_dump(exclude_unset=True)
    if spec.get("event_types") is not None:
        webhook_service.check_event_rights(principal, spec["event_types"])
    if spec.get("url") is not None:
        webhook_service.vet_url(spec["url"], allow_private=_allow_private(request))
    webhook = webhook_service.get(session, org_id, webhook_id)
    webhook_service.check_event_rights(principal, webhook.event_types)  # e.g. a new URL
    check_if_match(request, make_etag(webhook.id, webhook.version))
    webhook_service.update(session, change_context(request, principal, org_id), webhook, spec)
    return _out(request, webhook)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(
    org_id: str, webhook_id: str, principal: WebhooksWrite, session: SessionDep, request: Request
) -> Response:
    webhook = webhook_service.get(session, org_id, webhook_id)
    check_if_match(request, make_etag(webhook.id, webhook.version))
    webhook_service.delete(session, change_context(request, principal, org_id), webhook)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_model=Envelope[WebhookWithSecretOut])
def rotate_webhook_secret(
    org_id: str, webhook_id: str, principal: WebhooksWrite, session: SessionDep, request: Request
) -> Response:
    webhook = webhook_service.get(session, org_id, webhook_id)
    webhook_service.check_event_rights(principal, webhook.event_types)
    check_if_match(request, make_etag(webhook.id, webhook.version))
    ctx = change_context(request, principal, org_id)
    secret = webhook_service.rotate_secret(session, ctx, webhook)
    return _out(request, webhook, secret)


def _delivery_out(delivery: WebhookDelivery, attempts: list[Any]) -> DeliveryOut:
    return DeliveryOut.model_validate(webhook_service.present_delivery(delivery, attempts))


@router.post("/{webhook_id}/test", response_model=Envelope[WebhookTestOut])
async def test_webhook(
    org_id: str, webhook_id: str, principal: WebhooksWrite, request: Request
) -> Response:
    # No request session: the delivery commits before the attempt, and no transaction (or
    # SQLite write lock) stays open while the receiver answers.
    rt = runtime_of(request)
    ctx = change_context(request, principal, org_id)
    job = await run_in_threadpool(
        webhook_delivery.enqueue_test, rt.db, rt.settings, ctx, webhook_id
    )
    async with Sender(rt.settings) as sender:
        result = await sender.send(job.message)
    policy = RetryPolicy.from_settings(rt.settings)
    await run_in_threadpool(webhook_delivery.record, rt.db, job, result, policy)

    def load() -> WebhookTestOut:
        with rt.db.session(write=False) as session:
            delivery = session.get(WebhookDelivery, job.delivery_id)
            assert delivery is not None
            attempts = repository.attempts_of(session, [delivery.id])[delivery.id]
            return WebhookTestOut(
                success=result.ok,
                attempt=AttemptOut.model_validate(attempts[-1]) if attempts else _attempt(result),
                delivery=_delivery_out(delivery, attempts),
            )

    return one(request, await run_in_threadpool(load))


def _attempt(result: AttemptResult) -> AttemptOut:
    return AttemptOut(
        number=0,
        attempted_at=result.attempted_at,
        status_code=result.status_code,
        response_excerpt=result.response_excerpt,
        error=result.error,
        duration_ms=result.duration_ms,
    )


@router.get("/{webhook_id}/deliveries", response_model=ListEnvelope[DeliveryOut])
def list_webhook_deliveries(
    org_id: str,
    webhook_id: str,
    _principal: WebhooksRead,
    session: SessionDep,
    page: PageDep,
    request: Request,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Response:
    webhook = webhook_service.get(session, org_id, webhook_id)
    result = page.paginate(
        session, repository.deliveries_stmt(webhook.id, status), WebhookDelivery.id
    )
    attempts = repository.attempts_of(session, [d.id for d in result.items])
    items = [_delivery_out(d, attempts[d.id]) for d in result.items]
    return many(request, items, result.next_cursor)


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=Envelope[DeliveryOut])
def get_webhook_delivery(
    org_id: str,
    webhook_id: str,
    delivery_id: str,
    _principal: WebhooksRead,
    session: SessionDep,
    request: Request,
) -> Response:
    webhook = webhook_service.get(session, org_id, webhook_id)
    delivery = webhook_service.get_delivery(session, webhook, delivery_id)
    attempts = repository.attempts_of(session, [delivery.id])[delivery.id]
    return one(request, _delivery_out(delivery, attempts))


@router.post("/{webhook_id}/deliveries/{delivery_id}/retry", response_model=Envelope[DeliveryOut])
def retry_webhook_delivery(
    org_id: str,
    webhook_id: str,
    delivery_id: str,
    principal: WebhooksWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    webhook = webhook_service.get(session, org_id, webhook_id)
    delivery = webhook_service.get_delivery(session, webhook, delivery_id)
    webhook_service.retry(session, change_context(request, principal, org_id), delivery)
    attempts = repository.attempts_of(session, [delivery.id])[delivery.id]
    return one(request, _delivery_out(delivery, attempts))


add_revision_routes(router, Webhook, "webhooks", WebhookOut, _present)
