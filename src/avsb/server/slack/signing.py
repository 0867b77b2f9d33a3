"""Verifying that a request comes from Slack: ``X-Slack-Signature`` is ``v0=`` + the hex
HMAC-SHA256, keyed by the app's signing secret, of ``v0:<X-Slack-Request-Timestamp>:<body>``
(https://docs.slack.dev/authentication/verifying-requests-from-slack/). A timestamp too far
from now is refused, and so is a signature already seen (a replayed request)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from slack_sdk.signature import SignatureVerifier
from sqlalchemy.orm import Session

from avsb.server.errors import Forbidden, NotFound
from avsb.server.slack import repository


def not_configured(message: str) -> NotFound:
    """404 ``slack_not_configured``: this server has no Slack app (a setting is missing), so
    for it the Slack routes do not exist (a permanent state, not an outage)."""
    return NotFound(message, code="slack_not_configured")


def _refused(message: str, code: str) -> Forbidden:
    return Forbidden(message, code=code)


def verify(
    secret: str | None,
    headers: Mapping[str, str],
    body: bytes,
    max_age: int,
    now: float | None = None,
) -> tuple[str, int]:
    """The request's (signature, timestamp) when Slack signed it within ``max_age`` seconds;
    403 ``slack_signature_invalid`` / ``slack_request_stale`` otherwise (404 without a
    signing secret)."""
    sent = headers.get("x-slack-signature", "")
    raw_timestamp = headers.get("x-slack-request-timestamp", "")
    if not sent or not raw_timestamp.isascii() or not raw_timestamp.isdigit():
        raise _refused("The request carries no valid Slack signature.", "slack_signature_invalid")
    if not secret:
        raise not_configured("Slack is not configured on this server (AVSB_SLACK_SIGNING_SECRET).")
    timestamp = int(raw_timestamp)
    if abs((now if now is not None else time.time()) - timestamp) > max_age:
        raise _refused(
            f"The request's Slack timestamp is more than {max_age} s from now.",
            "slack_request_stale",
        )
    try:
        expected = SignatureVerifier(secret).generate_signature(
            timestamp=raw_timestamp, body=body.decode("utf-8")
        )
    except UnicodeDecodeError:
        expected = None
    if expected is None or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise _refused("The request's Slack signature does not match.", "slack_signature_invalid")
    return sent, timestamp


def remember(session: Session, signature: str, timestamp: int, max_age: int) -> None:
    """Refuse (403 ``slack_request_replayed``) a signature seen within its validity window;
    otherwise keep it until the window closes."""
    expires = datetime.fromtimestamp(timestamp, UTC) + timedelta(seconds=max_age)
    if not repository.remember_request(session, signature, expires):
        raise _refused("This Slack request was received already.", "slack_request_replayed")
