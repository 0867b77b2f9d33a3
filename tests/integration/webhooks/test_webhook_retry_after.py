"""A receiver's Retry-After (429 / 503, seconds or HTTP-date) delays the next attempt, capped by
``AVSB_WEBHOOK_MAX_RETRY_AFTER_SECONDS``; other statuses keep the schedule (0.3 s here)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from avsb.server.webhooks.sender import parse_retry_after
from tests.support.servers import LiveServer, new_org_client

from .conftest import hook_env_at
from .receiver import Answer, Received, Receiver


def _two_attempts(server: LiveServer, answers: list[Answer]) -> tuple[Received, Received]:
    """Send a test delivery to a receiver answering ``answers``; its first two attempts."""
    with Receiver(answers) as receiver, new_org_client(server) as api:
        hook = api.post(api.org("/webhooks"), json={"url": receiver.url(), "event_types": ["*"]})
        assert hook.status_code == 201, hook.text
        tested = api.post(api.org(f"/webhooks/{hook.json()['data']['id']}/test"))
        assert tested.status_code == 200, tested.text
        first, second = receiver.wait_for(2, timeout=20)[:2]
    return first, second


class TestRetryAfter:
    def test_429_seconds__next_attempt_waits(self, hook_server: LiveServer) -> None:
        first, second = _two_attempts(hook_server, [(429, {"Retry-After": "2"}), 200])
        assert 1.95 <= second.at - first.at < 4.5

    def test_503_http_date__next_attempt_waits(self, hook_server: LiveServer) -> None:
        # The date is absolute: the second attempt comes no earlier than it, however long the
        # set-up took (an HTTP-date has whole seconds, so the date is truncated here too).
        # Checked on the wall clock, the clock an HTTP-date names and the server schedules
        # by: mapped onto the monotonic clock, a step of the wall clock during the test (seen
        # once on the shared CI box) moved the target by 0.2 s.
        target = math.floor(time.time() + 4)
        date = format_datetime(datetime.fromtimestamp(target, UTC), usegmt=True)
        first, second = _two_attempts(hook_server, [(503, {"Retry-After": date}), 200])
        assert first.wall < target - 1.0, "set-up too slow for the date to lie ahead"
        assert target - 0.1 <= second.wall < target + 3.0

    @pytest.mark.parametrize("status", [500, 302])
    def test_other_statuses__retry_after_ignored(
        self, hook_server: LiveServer, status: int
    ) -> None:
        first, second = _two_attempts(hook_server, [(status, {"Retry-After": "30"}), 200])
        assert second.at - first.at < 3.0

    def test_malformed__schedule_kept(self, hook_server: LiveServer) -> None:
        first, second = _two_attempts(hook_server, [(429, {"Retry-After": "soon"}), 200])
        assert second.at - first.at < 3.0

    def test_capped_by_setting(self, tmp_path: Path) -> None:
        with hook_env_at(tmp_path) as env:
            server = env.start(webhook_max_retry_after_seconds=1.0)
            first, second = _two_attempts(server, [(429, {"Retry-After": "3600"}), 200])
        assert 0.95 <= second.at - first.at < 3.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6", 6.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),  # 10 s after the `now` below
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: now
        ("-1", None),
        ("1.5", None),
        ("later", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: Any, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, 50, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected
