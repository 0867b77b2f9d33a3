"""Webhooks: subscriptions (list, create with the signing secret shown once, edit URL, events
and description with the edit-conflict flow, turn on / off, delete after confirmation), their
deliveries with every attempt, re-send of a failed delivery, and a test delivery answered on the
page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormListsDep,
    NavItem,
    Viewer,
    changed_since,
    conflict_rows,
    next_url,
    page,
    page_request,
    page_router,
    register_nav,
    render,
    see_other,
    validate,
    version_tag,
)
from avsb.server.dashboard.design.common import org_url, projects, sent, state
from avsb.server.dashboard.forms.common import api_errors
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.models import Webhook
from avsb.server.runtime import runtime_of
from avsb.server.webhooks import delivery as webhook_delivery
from avsb.server.webhooks import service as webhook_service
from avsb.server.webhooks.schemas import EVENT_TYPES, WebhookCreate, WebhookPatch
from avsb.server.webhooks.sender import RetryPolicy, Sender

router = page_router(prefix="/orgs/{org_id}/webhooks")
Read = Annotated[Viewer, Depends(page("webhooks:read"))]
Write = Annotated[Viewer, Depends(page("webhooks:write"))]
register_nav(NavItem("Webhooks", "/orgs/{org_id}/webhooks", "webhooks:read", "Design", 70))
STATUSES = ("pending", "delivering", "delivered", "failed")
LABELS = (("url", "URL"), ("event_types", "Events"), ("description", "Description"))


def _url(webhook: Webhook) -> str:
    return org_url(webhook.org_id, "webhooks", webhook.id)


@router.get("")
def list_webhooks(org_id: str, viewer: Read, session: SessionDep, request: Request) -> Response:
    result = webhook_service.list_page(session, page_request(request), org_id)
    return render(
        request, "design_webhooks_list.html", webhooks=result.items,
        next=next_url(request, result), base=org_url(org_id, "webhooks"),
    )  # fmt: skip


def _form(  # noqa: PLR0913 - what the form shows
    request: Request,
    session: SessionDep,
    org_id: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    webhook: Webhook | None = None,
) -> Response:
    if webhook is None:
        action, cancel, etag = org_url(org_id, "webhooks", "new"), org_url(org_id, "webhooks"), None
    else:
        action, cancel = _url(webhook) + "/edit", _url(webhook)
        etag = version_tag(webhook.id, webhook.version)
    return render(
        request, "design_webhook_form.html", status, form=state(values, errors),
        action=action, cancel=cancel, etag=etag, editing=webhook is not None,
        projects=[("", "Every project"), *projects(request, session, org_id)],
        events=["*", *sorted(EVENT_TYPES)], chosen=set(values.get("event_types", [])),
    )  # fmt: skip


@router.get("/new")
def new_webhook(org_id: str, viewer: Write, session: SessionDep, request: Request) -> Response:
    return _form(request, session, org_id, {"enabled": "on", "event_types": []})


@router.post("/new")
def create_webhook(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values: dict[str, Any] = {**sent(form), "event_types": form.get("event_types", [])}
    fields = {
        "project_id": values.get("project_id") or None, "url": values.get("url", ""),
        "event_types": values["event_types"], "description": values.get("description", ""),
        "enabled": values.get("enabled") == "on",
    }  # fmt: skip
    try:
        body = validate(WebhookCreate, fields)
        webhook_service.check_event_rights(viewer.principal, body.event_types)
        allow_private = runtime_of(request).settings.webhooks_allow_private_networks
        webhook_service.vet_url(body.url, allow_private=allow_private)
        ctx = change_context(request, viewer.principal, org_id)
        webhook, secret = webhook_service.create(session, ctx, body.model_dump())
    except AvsbError as exc:
        session.rollback()
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _form(request, session, org_id, values, api_errors(exc), code)
    return render(
        request, "secret_created.html", 201, heading="Webhook created",
        secret=secret, label="Signing secret",
        note="Receivers check the signature of every delivery with it.",
        facts=[("URL", webhook.url), ("Events", ", ".join(webhook.event_types))],
        back=_url(webhook),
    )  # fmt: skip


@router.get("/{webhook_id}")
def show_webhook(
    org_id: str,
    webhook_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    status: Annotated[str, Query(pattern="^(pending|delivering|delivered|failed|)$")] = "",
) -> Response:
    webhook = webhook_service.get(session, org_id, webhook_id)
    result, attempts = webhook_service.deliveries_page(
        session, page_request(request), webhook, status or None
    )
    return render(
        request, "design_webhook_detail.html", webhook=webhook, url=_url(webhook),
        deliveries=result.items, attempts=attempts, next=next_url(request, result),
        statuses=STATUSES, status=status, etag=version_tag(webhook.id, webhook.version),
    )  # fmt: skip


def _events(form: FormListsDep) -> list[str]:
    """The ticked event types (the conflict page sends them back as one comma-joined field)."""
    return [e.strip() for v in form.get("event_types", []) for e in v.split(",") if e.strip()]


def _stored(webhook: Webhook) -> dict[str, Any]:
    return {"url": webhook.url, "event_types": list(webhook.event_types),
            "description": webhook.description}  # fmt: skip


def _shown(values: dict[str, Any]) -> dict[str, str]:
    """Values as the conflict page shows (and sends back) them: the events comma-joined."""
    return {name: ", ".join(values.get(name, [])) if name == "event_types"
            else str(values.get(name, "")) for name, _ in LABELS}  # fmt: skip


def _field_errors(exc: AvsbError) -> dict[str, str]:
    """The service's errors beside the form's fields (``event_types.0`` beside the events)."""
    out: dict[str, str] = {}
    for path, message in api_errors(exc).items():
        out.setdefault(path.split(".", 1)[0] if path.startswith("event_types") else path, message)
    return out


@router.get("/{webhook_id}/edit")
def edit_webhook(
    org_id: str, webhook_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    webhook = webhook_service.get(session, org_id, webhook_id)
    return _form(request, session, org_id, _stored(webhook), webhook=webhook)


@router.post("/{webhook_id}/edit")
def update_webhook(
    org_id: str, webhook_id: str, viewer: Write, form: FormListsDep, session: SessionDep,
    request: Request,
) -> Response:  # fmt: skip
    webhook = webhook_service.get(session, org_id, webhook_id)
    values: dict[str, Any] = {**sent(form), "event_types": _events(form)}
    if changed_since((form.get("etag") or [""])[0], webhook.id, webhook.version):
        rows = conflict_rows(LABELS, _shown(values), _shown(_stored(webhook)))
        return render(
            request, "conflict.html", 409, what=f"Webhook {webhook.url}", rows=rows,
            action=_url(webhook) + "/edit", reload=_url(webhook) + "/edit",
            current_etag=version_tag(webhook.id, webhook.version),
        )  # fmt: skip
    fields = {name: values.get(name, "") for name, _ in LABELS}
    try:
        spec = validate(WebhookPatch, fields).model_dump(exclude_unset=True)
        webhook_service.check_event_rights(viewer.principal, spec["event_types"])
        webhook_service.check_event_rights(viewer.principal, webhook.event_types)
        allow_private = runtime_of(request).settings.webhooks_allow_private_networks
        webhook_service.vet_url(spec["url"], allow_private=allow_private)
        ctx = change_context(request, viewer.principal, org_id)
        webhook_service.update(session, ctx, webhook, spec)
    except AvsbError as exc:
        session.rollback()
        webhook = webhook_service.get(session, org_id, webhook_id)
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _form(request, session, org_id, values, _field_errors(exc), code, webhook)
    return see_other(_url(webhook), "Webhook saved.")


@router.post("/{webhook_id}/deliveries/{delivery_id}/retry")
def retry_delivery(
    org_id: str, webhook_id: str, delivery_id: str, viewer: Write, session: SessionDep,
    request: Request,
) -> Response:  # fmt: skip
    webhook = webhook_service.get(session, org_id, webhook_id)
    delivery = webhook_service.get_delivery(session, webhook, delivery_id)
    try:
        webhook_service.check_event_rights(viewer.principal, webhook.event_types)
        webhook_service.retry(session, change_context(request, viewer.principal, org_id), delivery)
    except AvsbError as exc:
        session.rollback()
        return see_other(_url(webhook), exc.message, "error")
    return see_other(_url(webhook), "The delivery is queued to be sent again.")


@router.post("/{webhook_id}/test")
async def test_webhook(org_id: str, webhook_id: str, viewer: Write, request: Request) -> Response:
    """Send a ``webhook.test`` delivery now and say how the receiver answered (as the API's
    ``POST .../test``: no transaction stays open while the receiver answers)."""
    rt = runtime_of(request)
    ctx = change_context(request, viewer.principal, org_id)
    job = await run_in_threadpool(
        webhook_delivery.enqueue_test, rt.db, rt.settings, ctx, webhook_id
    )
    async with Sender(rt.settings) as sender:
        result = await sender.send(job.message)
    policy = RetryPolicy.from_settings(rt.settings)
    await run_in_threadpool(webhook_delivery.record, rt.db, job, result, policy)
    url = org_url(org_id, "webhooks", webhook_id)
    if result.ok:
        return see_other(url, f"Test delivered: the receiver answered {result.status_code}.")
    why = f"HTTP {result.status_code}" if result.status_code else (result.error or "no answer")
    return see_other(url, f"Test not delivered: {why}.", "error")


def _confirm(request: Request, webhook: Webhook, action: str) -> Response:
    if action == "delete":
        heading, button = "Delete this webhook?", "Delete webhook"
        message = "Its pending deliveries are dropped. This cannot be undone."
    elif webhook.enabled:
        heading, button = "Turn this webhook off?", "Turn off"
        message = "No events are queued for it until you turn it on again."
    else:
        heading, button = "Turn this webhook on?", "Turn on"
        message = "Events are queued for it again from now on (missed ones are not)."
    return render(
        request, "confirm.html", heading=heading, message=f"{webhook.url}: {message}",
        action=f"{_url(webhook)}/{action}", button=button, cancel=_url(webhook),
        fields={"etag": version_tag(webhook.id, webhook.version)},
    )  # fmt: skip


@router.get("/{webhook_id}/toggle")
def confirm_toggle(
    org_id: str, webhook_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    return _confirm(request, webhook_service.get(session, org_id, webhook_id), "toggle")


@router.get("/{webhook_id}/delete")
def confirm_delete(
    org_id: str, webhook_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    return _confirm(request, webhook_service.get(session, org_id, webhook_id), "delete")


def _change(request: Request, viewer: Viewer, session: SessionDep, webhook: Webhook,
            etag: str, delete: bool) -> Response:  # fmt: skip
    url = _url(webhook)
    if changed_since(etag, webhook.id, webhook.version):
        return see_other(url, "The webhook changed meanwhile; look again and retry.", "error")
    ctx = change_context(request, viewer.principal, webhook.org_id)
    try:
        webhook_service.check_event_rights(viewer.principal, webhook.event_types)
        if delete:
            webhook_service.delete(session, ctx, webhook)
            return see_other(org_url(webhook.org_id, "webhooks"), "Webhook deleted.")
        webhook_service.update(session, ctx, webhook, {"enabled": not webhook.enabled})
    except AvsbError as exc:
        session.rollback()
        return see_other(url, exc.message, "error")
    return see_other(url, f"Webhook turned {'on' if webhook.enabled else 'off'}.")


@router.post("/{webhook_id}/toggle")
def toggle_webhook(
    org_id: str, webhook_id: str, viewer: Write, form: FormListsDep, session: SessionDep,
    request: Request,
) -> Response:  # fmt: skip
    webhook = webhook_service.get(session, org_id, webhook_id)
    return _change(request, viewer, session, webhook, (form.get("etag") or [""])[0], False)


@router.post("/{webhook_id}/delete")
def delete_webhook(
    org_id: str, webhook_id: str, viewer: Write, form: FormListsDep, session: SessionDep,
    request: Request,
) -> Response:  # fmt: skip
    webhook = webhook_service.get(session, org_id, webhook_id)
    return _change(request, viewer, session, webhook, (form.get("etag") or [""])[0], True)
