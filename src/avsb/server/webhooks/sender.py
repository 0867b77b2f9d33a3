"""One signed HTTP attempt to a vetted, pinned address, and the retry schedule after a failure."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx

import avsb
from avsb.server.config import Settings
from avsb.server.models.base import utcnow
from avsb.server.webhooks import netguard, signing

EXCERPT_CHARS = 1024
_EXCERPT_BYTES = 4 * EXCERPT_CHARS
_ERROR_CHARS = 500
# Statuses whose Retry-After asks the sender to wait (RFC 9110 section 10.2.3, RFC 6585).
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Message:
    """What one attempt sends: the delivery id is the stable ``webhook-id``."""

    message_id: str
    url: str
    secret: str
    body: str


@dataclass(frozen=True)
class AttemptResult:
    attempted_at: datetime
    duration_ms: float
    status_code: int | None = None
    response_excerpt: str = ""
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait (429 / 503)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks to stop; the subscription is disabled."""
        return self.status_code == 410


@dataclass(frozen=True)
class RetryPolicy:
    """Delays before each retry; exponential in the default schedule, each scaled by jitter."""

    schedule: tuple[float, ...]
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    max_retry_after: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            tuple(settings.webhook_retry_schedule_seconds),
            settings.webhook_retry_jitter,
            max_retry_after=settings.webhook_max_retry_after_seconds,
        )

    def delay(self, failed_attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after ``failed_attempts`` failures, None when done.

        A receiver's ``Retry-After`` (capped at ``max_retry_after``) lengthens the scheduled
        delay, never shortens it.
        """
        if failed_attempts < 1 or failed_attempts > len(self.schedule):
            return None
        base = self.schedule[failed_attempts - 1]
        delay = max(0.0, base * self.rng.uniform(1 - self.jitter, 1 + self.jitter))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date (RFC 9110
    section 10.2.3); None when absent or malformed. A date in the past means 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's unknown zone; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_ERROR_CHARS]


class Sender:
    """Sends signed webhook requests: no redirects, no proxies from the environment, no
    connection reuse (each attempt connects to the address vetted for it), bounded time."""

    def __init__(
        self,
        settings: Settings,
        resolver: netguard.Resolver = netguard.system_resolver,
    ) -> None:
        self._timeout = settings.webhook_timeout_seconds
        self._allow_private = settings.webhooks_allow_private_networks
        self._resolver = resolver
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, message: Message) -> AttemptResult:
        """One attempt; never raises for network or destination problems (they are the result)."""
        attempted_at = utcnow()
        started = time.monotonic()
        status: int | None = None
        excerpt = ""
        error: str | None = None
        retry_after: float | None = None
        try:
            async with asyncio.timeout(self._timeout):
                status, excerpt, retry_after = await self._post(message)
        except netguard.DestinationRefused as exc:
            error = f"destination refused: {_error_text(exc)}"
        except TimeoutError:
            error = f"timed out after {self._timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {_error_text(exc)}"[:_ERROR_CHARS]
        duration = round((time.monotonic() - started) * 1000, 3)
        return AttemptResult(attempted_at, duration, status, excerpt, error, retry_after)

    async def _post(self, message: Message) -> tuple[int, str, float | None]:
        target = netguard.parse(message.url)
        address = await netguard.pin(
            target, allow_private=self._allow_private, resolver=self._resolver
        )
        url, host_headers, extensions = netguard.pinned_request_args(target, address)
        body = message.body.encode()
        timestamp = int(time.time())
        headers = {
            **host_headers,
            **signing.headers(message.secret, message.message_id, timestamp, body),
            "content-type": "application/json",
            "user-agent": f"AvsB-Webhooks/{avsb.__version__}",
        }
        request = self._client.build_request(
            "POST", url, content=body, headers=headers, extensions=extensions
        )
        response = await self._client.send(request, stream=True)
        try:
            raw = b""
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) >= _EXCERPT_BYTES:
                    break
        finally:
            await response.aclose()
        retry_after = None
        if response.status_code in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        return response.status_code, excerpt, retry_after
