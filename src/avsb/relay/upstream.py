"""The relay's link to its upstream AvsB server: the config arrives on the upstream's event
stream (`GET /api/sdk/config/stream?include=config`), with a poll of `GET /api/sdk/config`
(ETag, 304) as a fallback; the relay's own exposures go back in batches to its event
ingestion, and an SDK's `POST /api/sdk/exposures` to the relay is forwarded as it came, its
answer (or the failure to get one) passed back to the SDK."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from avsb.relay.state import RelayConfig, UpstreamError
from avsb.server.errors import AvsbError, ServiceUnavailable
from avsb.server.kit.metrics import Metrics

log = logging.getLogger("avsb.relay")
EXPOSURES_PATH = "/api/sdk/exposures"
EXPOSURES_PER_REQUEST = 1_000  # the most that route takes
STREAM_PATH = "/api/sdk/config/stream?include=config"
CONFIG_PATH = "/api/sdk/config"
MAX_BACKOFF_SECONDS = 10.0
DOWN_POLL_SECONDS = 2.0
"""How often the config is polled while the event stream is down."""
STREAM_READ_TIMEOUT = 60.0
"""A stream silent this long (no event, no heartbeat) is taken as broken and reopened."""
FORWARD_TIMEOUT = httpx.Timeout(8.0, connect=3.0)
"""A forwarded SDK batch fails (503 to the SDK, which retries) rather than outwait the
SDK's own 10 s timeout."""
PASSED_HEADERS = ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining",
                  "x-ratelimit-reset")  # fmt: skip
"""Headers of an upstream error answer that the relay passes on."""
FORWARDED_REQUEST_ID: ContextVar[str | None] = ContextVar("avsb_relay_request_id", default=None)
"""The request id of the SDK request being forwarded (set by the relay's exposures route;
the worker thread that forwards it runs in a copy of the request's context), sent upstream
as `X-Request-Id` so that the two servers' logs of one batch can be matched."""


class UpstreamUnavailable(ServiceUnavailable):
    """503 `upstream_unavailable`: a forwarded request got no usable answer."""

    code = "upstream_unavailable"


class UpstreamRefused(AvsbError):  # noqa: N818 (named by meaning, as avsb.server.errors)
    """An error answer of the upstream to a forwarded request, passed on as it came."""

    def __init__(self, status: int, error: dict[str, Any], headers: dict[str, str]) -> None:
        details = error.get("details")
        super().__init__(str(error.get("message", "")), code=str(error["code"]),
                         details=details if isinstance(details, dict) else None,
                         headers=headers)  # fmt: skip
        self.status_code = status


@dataclass(frozen=True, slots=True)
class RejectedItem:
    index: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The upstream's answer to a forwarded `POST /api/sdk/exposures`."""

    accepted: int
    duplicates: int
    rejected: tuple[RejectedItem, ...]


class Upstream:
    def __init__(self, url: str, sdk_key: str, config: RelayConfig, metrics: Metrics,
                 poll_seconds: float, on_update: Callable[[], None]) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {sdk_key}"}
        self._config = config
        self._metrics = metrics
        self._poll_seconds = poll_seconds
        self._on_update = on_update
        self.org_id: str | None = None
        self.streaming = False
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._sender = httpx.Client(base_url=self.url, headers=self._headers, timeout=30.0)
        self._forwarder = httpx.Client(base_url=self.url, headers=self._headers,
                                       timeout=FORWARD_TIMEOUT)  # fmt: skip
        metrics.gauge("avsb_relay_stream_connected", lambda: float(self.streaming),
                      "1 while the upstream event stream is open.")  # fmt: skip

    def start(self) -> None:
        timeout = httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT)
        self._client = httpx.AsyncClient(base_url=self.url, headers=self._headers, timeout=timeout)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._stream()), loop.create_task(self._poll())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
        self._sender.close()
        self._forwarder.close()

    async def _take(self, org_id: str, config: object, etag: str) -> None:
        self.org_id = org_id
        if await asyncio.to_thread(self._config.load, org_id, config, etag):
            self._on_update()

    async def _stream(self) -> None:
        assert self._client is not None
        backoff = 0.5
        while True:
            try:
                async with self._client.stream("GET", STREAM_PATH) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise UpstreamError(f"stream answered {response.status_code}")
                    self.streaming, backoff = True, 0.5
                    log.info("upstream event stream open")
                    data: list[str] = []
                    async for line in response.aiter_lines():
                        if line.startswith("data:"):
                            data.append(line[5:].removeprefix(" "))
                        elif not line and data:
                            event = orjson.loads("\n".join(data))
                            data = []
                            await self._take(event["org_id"], event["config"], event["etag"])
            except (httpx.HTTPError, UpstreamError, ValueError, KeyError, TypeError) as exc:
                log.warning("upstream event stream down (%s); polling meanwhile", exc)
            finally:
                self.streaming = False
            self._metrics.inc("avsb_relay_stream_reconnects_total", doc="Stream reconnections.")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _poll(self) -> None:
        """The fallback: `GET /api/sdk/config` with the last ETag (a 304 costs nothing)."""
        assert self._client is not None
        while True:
            await asyncio.sleep(DOWN_POLL_SECONDS if not self.streaming else self._poll_seconds)
            if self.org_id is None:
                continue  # the first config (and the organisation) comes from the stream
            headers = {"If-None-Match": self._config.etag} if self._config.etag else {}
            try:
                response = await self._client.get(CONFIG_PATH, headers=headers)
            except httpx.HTTPError as exc:
                log.warning("upstream config poll failed: %s", exc)
                continue
            if response.status_code == 200:
                etag = response.headers.get("etag", "")
                await self._take(self.org_id, response.json()["data"], etag)

    def post_exposures(self, org_id: str, project_id: str, events: list[object]) -> None:
        """Forward one batch of the key's project (exposure thread) to the upstream's
        `POST /api/sdk/exposures`, in requests of at most 1,000; raises to have it retried
        (event ids make a resent request's exposures duplicates, not new rows)."""
        del org_id, project_id  # the SDK key names its project
        for start in range(0, len(events), EXPOSURES_PER_REQUEST):
            self._post_exposures(events[start : start + EXPOSURES_PER_REQUEST])

    def _post_exposures(self, events: list[object]) -> None:
        """One request of the relay's own exposures, under a request id of its own
        (`relay_<24 hex>`, named in the relay's log lines and the upstream's)."""
        request_id = f"relay_{secrets.token_hex(12)}"
        headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
        response = self._sender.post(EXPOSURES_PATH, content=orjson.dumps({"exposures": events}),
                                     headers=headers)  # fmt: skip
        if response.status_code == 200:
            rejected = response.json()["data"]["rejected"]
            if rejected:  # e.g. an experiment deleted upstream since the relay's config
                log.warning("upstream rejected %d exposures (request %s): %s", len(rejected),
                            request_id, rejected[:3])  # fmt: skip
                self._metrics.inc("avsb_exposures_dropped_total", (("reason", "upstream_refused"),),
                                  float(len(rejected)))  # fmt: skip
            return
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise UpstreamError(f"upstream answered {response.status_code} (request {request_id})")
        # Refused for good (the key revoked): retrying cannot help.
        log.error("upstream refused %d exposures (request %s): %s", len(events), request_id,
                  response.text[:500])  # fmt: skip
        self._metrics.inc("avsb_exposures_dropped_total", (("reason", "upstream_refused"),),
                          float(len(events)))  # fmt: skip

    def forward_exposures(self, org_id: str, project_id: str, body: bytes) -> Forwarded:
        """Forward an SDK's `POST /api/sdk/exposures` body, unread, with the relay's SDK key
        (the one the caller presented: the relay admits no other) and the request's id
        (`FORWARDED_REQUEST_ID`, as `X-Request-Id`), and return the upstream's
        counts; its error answers are raised as they came (`UpstreamRefused`), no answer as
        503 `upstream_unavailable`. Blocking; nothing is kept: the SDK keeps its batch until
        it gets a 200 and retries a 503, and event ids make a resent batch count once."""
        del org_id, project_id  # the SDK key names its project, upstream as here
        try:
            headers = {"Content-Type": "application/json"}
            request_id = FORWARDED_REQUEST_ID.get()
            if request_id is not None:  # the envelope's: sane, so the upstream takes it
                headers["X-Request-Id"] = request_id
            response = self._forwarder.post(EXPOSURES_PATH, content=body, headers=headers)
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: closed at shutdown
            raise self._unavailable(f"could not reach it: {type(exc).__name__}") from None
        try:
            answer = response.json()
            if response.status_code == 200:
                data = answer["data"]
                rejected = tuple(RejectedItem(int(r["index"]), str(r["code"]), str(r["message"]))
                                 for r in data["rejected"])  # fmt: skip
                return Forwarded(int(data["accepted"]), int(data["duplicates"]), rejected)
            error = answer["error"]
            if not isinstance(error, dict) or not isinstance(error["code"], str):
                raise TypeError("no error code")
        except (ValueError, KeyError, TypeError):
            raise self._unavailable(f"it answered {response.status_code} unreadably") from None
        passed = {name: response.headers[name] for name in PASSED_HEADERS
                  if name in response.headers}  # fmt: skip
        raise UpstreamRefused(response.status_code, error, passed)

    def _unavailable(self, why: str) -> UpstreamUnavailable:
        log.warning("an SDK's exposures were not forwarded: the upstream %s", why)
        self._metrics.inc(
            "avsb_relay_forward_failures_total",
            doc="SDK exposure batches the upstream did not answer (503 to the SDK).",
        )
        return UpstreamUnavailable(
            f"The relay's upstream {why}. The exposures are not known to be stored: send "
            "them again (event ids make a resent batch count once)."
        )
