"""The Slack worker: claims due outbox rows, makes each Web API call, records the outcome.

The same lease protocol as the webhook outbox (``webhooks.delivery``): ``pending`` -> claimed
as ``sending`` until ``locked_until`` -> ``sent``, ``pending`` again at the next retry time,
or ``failed`` after the last. Calls go through ``slack_sdk.WebClient`` at
``AVSB_SLACK_API_URL`` with the installation's bot token (or ``AVSB_SLACK_BOT_TOKEN``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.kit.threads import ended_within, in_thread
from avsb.server.models import SlackInstallation, SlackMessage
from avsb.server.models.base import utcnow
from avsb.server.runtime import Runtime
from avsb.server.slack import repository

log = logging.getLogger("avsb.server.slack")

BATCH_SIZE = 20
DIGEST_CHECK_SECONDS = 300.0  # within the digest hour, any check queues it (once a week)
TIMEOUT_SECONDS = 10
_LEASE = timedelta(seconds=TIMEOUT_SECONDS + 60)
_ERROR_CHARS = 500


@dataclass(frozen=True)
class Call:
    """A claimed message: the Web API method, its arguments and the token to send it with."""

    message_id: str
    claim: str
    method: str
    args: dict[str, Any]
    token: str | None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None
    retry_after: float | None = None


def bot_token(installation: SlackInstallation | None, settings: Settings) -> str | None:
    """The token to call Slack with for an installation: its own, else the setting's."""
    if installation is None:
        return None
    if installation.bot_token:
        return installation.bot_token
    return settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None


def web_client(settings: Settings, token: str | None = None) -> WebClient:
    base = (
        settings.slack_api_url
        if settings.slack_api_url.endswith("/")
        else settings.slack_api_url + "/"
    )
    return WebClient(token=token, base_url=base, timeout=TIMEOUT_SECONDS)


def claim_batch(db: Database, settings: Settings) -> list[Call]:
    now = utcnow()
    with db.session(write=False) as session:
        if not repository.due_ids(session, now, 1, skip_locked=False):
            return []
    calls: list[Call] = []
    with db.transaction() as session:
        ids = repository.due_ids(session, now, BATCH_SIZE, skip_locked=not db.is_sqlite)
        for message_id in ids:
            token = secrets.token_hex(16)
            if not repository.claim(session, message_id, now, (now + _LEASE, token)):
                continue
            message = session.get(SlackMessage, message_id, populate_existing=True)
            if message is None:
                continue
            payload = orjson.loads(message.payload)
            installation = repository.installation_of_org(session, message.org_id)
            calls.append(
                Call(
                    message.id,
                    token,
                    payload["method"],
                    payload["args"],
                    bot_token(installation, settings),
                )
            )
    return calls


def call_slack(settings: Settings, call: Call) -> Outcome:
    """One Web API call; never raises (a failure is the outcome)."""
    if call.token is None:
        return Outcome(False, "Slack is not connected for this organisation")
    try:
        web_client(settings, call.token).api_call(call.method, json=call.args)
    except SlackApiError as exc:
        response = exc.response
        retry_after = response.headers.get("retry-after") or response.headers.get("Retry-After")
        error = str(response.get("error") or f"HTTP {response.status_code}")
        wait = float(retry_after) if retry_after and str(retry_after).isdigit() else None
        return Outcome(False, f"{call.method}: {error}"[:_ERROR_CHARS], wait)
    except (SlackClientError, OSError, ValueError) as exc:
        return Outcome(False, f"{call.method}: {type(exc).__name__}: {exc}"[:_ERROR_CHARS])
    return Outcome(True)


# Errors a retry cannot fix (https://docs.slack.dev/reference/methods/chat.postMessage#errors).
_PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "not_authed",
        "missing_scope",
        "invalid_blocks",
        "msg_too_long",
    }
)


def _permanent(error: str | None) -> bool:
    return error is not None and error.rsplit(": ", 1)[-1] in _PERMANENT


def record(db: Database, settings: Settings, call: Call, outcome: Outcome) -> None:
    with db.transaction() as session:
        message = repository.held(session, call.message_id, call.claim)
        if message is None:  # the lease expired and another worker took the message over
            return
        message.attempt_count += 1
        message.locked_until = None
        message.claim_token = None
        message.last_error = outcome.error
        if outcome.ok:
            message.status, message.sent_at, message.next_attempt_at = "sent", utcnow(), None
            return
        schedule = settings.slack_retry_schedule_seconds
        if _permanent(outcome.error) or message.attempt_count > len(schedule):
            message.status, message.next_attempt_at = "failed", None
            return
        delay = max(schedule[message.attempt_count - 1], outcome.retry_after or 0.0)
        message.status = "pending"
        message.next_attempt_at = utcnow() + timedelta(seconds=delay)


def purge(db: Database, retention_days: int) -> int:
    """Delete expired handshakes, replay records and old finished messages."""
    now = utcnow()
    with db.transaction() as session:
        return repository.purge(session, now, now - timedelta(days=retention_days))


class SlackWorker:
    """A background task of the server process that drains the Slack outbox."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="slack-delivery")

    async def stop(self, seconds: float = 5.0) -> None:
        """Stop polling; a claim or record under way is given `seconds` to end."""
        if self._task is not None:
            self._task.cancel()
            await ended_within([self._task], seconds, "Slack delivery")
            self._task = None

    async def run_once(self) -> int:
        calls = await in_thread(claim_batch, self._db, self._settings)
        await asyncio.gather(*(self._attempt(call) for call in calls))
        return len(calls)

    async def _attempt(self, call: Call) -> None:
        outcome = await asyncio.to_thread(call_slack, self._settings, call)
        try:
            await in_thread(record, self._db, self._settings, call, outcome)
        except Exception:
            log.exception("recording Slack message %s failed", call.message_id)

    async def _run(self) -> None:
        while True:
            try:
                attempted = await self.run_once()
            except Exception:
                log.exception("Slack delivery batch failed")
                attempted = 0
            if attempted < BATCH_SIZE:
                await asyncio.sleep(self._settings.slack_poll_seconds)


def slack_jobs(rt: Runtime) -> list[tuple[float, Callable[[], object], str]]:
    """The server's periodic Slack jobs: the weekly digest check and the purge."""
    from avsb.server.slack import service

    return [
        (
            DIGEST_CHECK_SECONDS,
            lambda: service.queue_due_digests(rt.db, rt.settings),
            "slack-digest",
        ),
        (3600.0, lambda: purge(rt.db, rt.settings.webhook_retention_days), "slack-purge"),
    ]
