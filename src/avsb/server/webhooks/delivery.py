"""The delivery worker: claims due outbox rows, sends them, records every attempt.

Lifecycle of a delivery: ``pending`` (due at ``next_attempt_at``) -> claimed as ``delivering``
with a lease (``locked_until``, ``claim_token``) -> one attempt -> ``delivered`` on 2xx, else
``pending`` again at the next retry time, or ``failed`` after the last one (or on 410 Gone,
which also disables the subscription). A worker that dies mid-attempt leaves a lease that
expires, and any worker takes the row again: delivery is at least once, and retries survive
restarts because their schedule lives in the database.

Claiming is safe across processes: on PostgreSQL the due rows are selected ``FOR UPDATE SKIP
LOCKED``; on every backend the claim itself is a conditional UPDATE that only one worker wins.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.kit import audit, resources
from avsb.server.kit.context import ChangeContext, system_context
from avsb.server.kit.threads import ended_within, in_thread
from avsb.server.models import Webhook, WebhookAttempt, WebhookDelivery
from avsb.server.models.base import utcnow
from avsb.server.webhooks import repository
from avsb.server.webhooks import service as webhook_service
from avsb.server.webhooks.sender import AttemptResult, Message, RetryPolicy, Sender

log = logging.getLogger("avsb.server.webhooks")

# A lease outlives the longest attempt by this much, so only a dead worker loses its rows.
LEASE_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class Job:
    """A claimed delivery: what to send, and the token that proves this worker holds it."""

    delivery_id: str
    token: str
    message: Message


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)


def _job(delivery: WebhookDelivery, webhook: Webhook, token: str) -> Job:
    message = Message(delivery.id, webhook.url, webhook.signing_secret, delivery.payload)
    return Job(delivery.id, token, message)


def claim_batch(db: Database, settings: Settings) -> list[Job]:
    """Claim up to ``webhook_batch_size`` due deliveries for this worker."""
    now = utcnow()
    jobs: list[Job] = []
    with db.session(write=False) as session:
        # Look before taking a write transaction: on SQLite that is the database-wide lock.
        if not repository.due_ids(session, now, 1, skip_locked=False):
            return jobs
    with db.transaction() as session:
        ids = repository.due_ids(
            session, now, settings.webhook_batch_size, skip_locked=not db.is_sqlite
        )
        for delivery_id in ids:
            token = secrets.token_hex(16)
            if not repository.claim(session, delivery_id, now, (now + _lease(settings), token)):
                continue
            delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
            webhook = session.get(Webhook, delivery.webhook_id) if delivery else None
            if delivery is None or webhook is None:
                continue
            if not webhook.enabled:
                _finish(delivery, "failed", "the webhook is disabled")
                continue
            jobs.append(_job(delivery, webhook, token))
    return jobs


def _finish(delivery: WebhookDelivery, status: str, error: str | None = None) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    delivery.locked_until = None
    delivery.claim_token = None
    if error is not None:
        delivery.last_error = error


def _disable_gone(session: Session, webhook_id: str) -> None:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or not webhook.enabled:
        return
    changes = {"enabled": False, "disabled_reason": "the receiver answered 410 Gone"}
    resources.update(session, system_context(webhook.org_id), webhook, changes, "webhook.disabled")


def record(db: Database, job: Job, result: AttemptResult, policy: RetryPolicy) -> None:
    """Store the attempt and move the delivery on: delivered, retry later, or failed."""
    with db.transaction() as session:
        delivery = repository.held(session, job.delivery_id, job.token)
        if delivery is None:  # the lease expired and another worker took over; it will record
            return
        delivery.attempt_count += 1
        delivery.cycle_attempts += 1
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                number=delivery.attempt_count,
                attempted_at=result.attempted_at,
                status_code=result.status_code,
                response_excerpt=result.response_excerpt,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if result.ok:
            _finish(delivery, "delivered")
            delivery.delivered_at = result.attempted_at
            return
        if result.gone:
            _finish(delivery, "failed")
            _disable_gone(session, delivery.webhook_id)
            return
        delay = policy.delay(delivery.cycle_attempts, result.retry_after)
        if delay is None:
            _finish(delivery, "failed")
            return
        delivery.status = "pending"
        delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
        delivery.locked_until = None
        delivery.claim_token = None


def enqueue_test(db: Database, settings: Settings, ctx: ChangeContext, webhook_id: str) -> Job:
    """A ``webhook.test`` delivery, committed and already claimed so the caller attempts it."""
    with db.transaction() as session:
        webhook = webhook_service.get(session, ctx.org_id, webhook_id)
        now = utcnow()
        data = {"webhook_id": webhook.id, "message": "This is a test delivery from AvsB."}
        payload = webhook_service.encode_payload("webhook.test", data, now)
        delivery = webhook_service.enqueue(session, webhook, "webhook.test", payload)
        token = secrets.token_hex(16)
        delivery.status = "delivering"
        delivery.locked_until = now + _lease(settings)
        delivery.claim_token = token
        session.flush()
        audit.record(
            session, ctx, "webhook.tested", ("webhook", webhook.id), {"delivery_id": delivery.id}
        )
        return _job(delivery, webhook, token)


def purge(db: Database, settings: Settings) -> int:
    """Delete finished deliveries older than ``webhook_retention_days``."""
    before = utcnow() - timedelta(days=settings.webhook_retention_days)
    with db.transaction() as session:
        return repository.purge_finished(session, before)


class DeliveryWorker:
    """A background task of the server process that drains the outbox."""

    def __init__(self, db: Database, settings: Settings, sender: Sender | None = None) -> None:
        self._db = db
        self._settings = settings
        self._policy = RetryPolicy.from_settings(settings)
        self._sender = sender or Sender(settings)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self, seconds: float = 5.0) -> None:
        """Stop polling; attempts in flight are abandoned and retried after their lease (a
        claim or record under way is given `seconds` to end)."""
        if self._task is not None:
            self._task.cancel()
            await ended_within([self._task], seconds, "webhook delivery")
            self._task = None
        await self._sender.aclose()

    async def run_once(self) -> int:
        """Claim and attempt one batch; the number of deliveries attempted."""
        jobs = await in_thread(claim_batch, self._db, self._settings)
        await asyncio.gather(*(self._attempt(job) for job in jobs))
        return len(jobs)

    async def _attempt(self, job: Job) -> None:
        result = await self._sender.send(job.message)
        try:
            await in_thread(record, self._db, job, result, self._policy)
        except Exception:
            log.exception("recording webhook delivery %s failed", job.delivery_id)

    async def _run(self) -> None:
        while True:
            try:
                attempted = await self.run_once()
            except Exception:
                log.exception("webhook delivery batch failed")
                attempted = 0
            if attempted < self._settings.webhook_batch_size:
                await asyncio.sleep(self._settings.webhook_poll_seconds)
