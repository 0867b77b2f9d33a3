"""The asyncio client: the same evaluator, with tasks instead of threads for its I/O."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import httpx

from avsb_sdk._core import (
    CONFIG_PATH,
    EXPOSURES_PATH,
    STREAM_PATH,
    Evaluating,
    ExposureOptions,
    SseParser,
    batch_body,
    compiled_from,
    send_outcome,
)
from avsb_sdk._exposures import Exposure, SendError, backoff_seconds

log = logging.getLogger("avsb_sdk")

STREAM_ABSENT_RETRY = 300.0
STREAM_READ_TIMEOUT = 120.0


def _client(
    base_url: str, token: str, timeout: float, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        transport=transport,
    )


class AsyncClient(Evaluating):
    """`Client` for asyncio: evaluation is synchronous (in-process, no I/O), loading,
    streaming and exposure sending run as tasks of the running loop.

        async with AsyncClient("https://avsb.example.com", "avsb_sdk_...") as client:
            await client.wait_until_ready(5)
            variant = client.assign("checkout_test", "user_1").variant

    Created inside a running loop it starts loading at once; otherwise on `async with` or
    the first `wait_until_ready`.
    """

    def __init__(
        self,
        base_url: str,
        sdk_key: str,
        *,
        poll_interval: float = 30.0,
        stream: bool = True,
        exposures: ExposureOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        options = exposures or ExposureOptions()
        self.poll_interval = poll_interval
        self.exposure_options = options
        self.exposures = options.queue()
        self.streaming = False
        self._compiled = None
        self._etag = None
        self._stream = stream
        self._http = _client(base_url, sdk_key, 10.0, transport)
        self._stream_http = _client(base_url, sdk_key, STREAM_READ_TIMEOUT, transport)
        self._events_http: httpx.AsyncClient | None = None
        if options.send:
            self._events_http = _client(base_url, sdk_key, 10.0, transport)
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._fetch_lock: asyncio.Lock | None = None
        self._closed = False
        with contextlib.suppress(RuntimeError):  # no running loop: start later
            asyncio.get_running_loop()
            self._start()

    def _start(self) -> None:
        if self._tasks or self._closed:
            return
        self._ready, self._wake, self._fetch_lock = asyncio.Event(), asyncio.Event(), asyncio.Lock()
        loop = asyncio.get_running_loop()
        wake = self._wake

        def batch_ready() -> None:
            loop.call_soon_threadsafe(wake.set)

        self.exposures.on_batch_ready = batch_ready
        self._tasks.append(asyncio.create_task(self._poll(), name="avsb-sdk-poll"))
        if self._stream:
            self._tasks.append(asyncio.create_task(self._listen(), name="avsb-sdk-stream"))
        if self._events_http is not None:
            self._tasks.append(asyncio.create_task(self._send(), name="avsb-sdk-exposures"))

    async def __aenter__(self) -> AsyncClient:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait for the first config; True when it arrived within `timeout` seconds."""
        self._start()
        assert self._ready is not None
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def refresh(self) -> bool:
        """Fetch the config now; True when a new one was loaded, False when unchanged."""
        self._start()
        assert self._fetch_lock is not None
        assert self._ready is not None
        async with self._fetch_lock:
            headers = {"If-None-Match": self._etag} if self._etag else {}
            response = await self._http.get(CONFIG_PATH, headers=headers)
            if response.status_code == 304:
                return False
            self._adopt(compiled_from(response), response.headers.get("etag"))
            self._ready.set()
            return True

    async def _refresh_logged(self) -> bool:
        try:
            await self.refresh()
            return True
        except Exception as exc:
            log.warning("config refresh failed (%s); keeping revision %s", exc, self.revision)
            return False

    async def _poll(self) -> None:
        failures = 0
        while True:
            failures = 0 if await self._refresh_logged() else failures + 1
            delay = self.poll_interval
            if failures and not self.ready:
                delay = min(delay, backoff_seconds(failures, 0.25, 5.0))
            await asyncio.sleep(delay)

    async def _listen(self) -> None:
        delay = 1.0
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        while True:
            try:
                async with self._stream_http.stream("GET", STREAM_PATH, headers=headers) as r:
                    if r.status_code in (404, 405, 501):
                        delay = STREAM_ABSENT_RETRY
                    elif r.status_code == 200:
                        self.streaming, delay = True, 1.0
                        await self._refresh_logged()
                        parser = SseParser()
                        async for line in r.aiter_lines():
                            event = parser.feed(line)
                            if event is None:
                                continue
                            delay = event.retry or delay
                            if self._is_news(event):
                                await self._refresh_logged()
            except (httpx.HTTPError, ValueError) as exc:
                log.info("config stream interrupted (%s); polling meanwhile", exc)
            finally:
                self.streaming = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0) if delay < STREAM_ABSENT_RETRY else delay

    async def _post(self, batch: list[Exposure]) -> int:
        http = self._events_http
        if http is None:
            raise SendError("exposures are not sent (ExposureOptions.send is off)", retryable=False)
        try:
            response = await http.post(
                EXPOSURES_PATH,
                content=batch_body(batch),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise SendError(str(exc), retryable=True) from exc
        return send_outcome(response)

    async def _deliver(self, batch: list[Exposure]) -> None:
        options = self.exposure_options
        for attempt in range(1, options.max_attempts + 1):
            try:
                rejected = await self._post(batch)
            except SendError as exc:
                if not exc.retryable or attempt == options.max_attempts:
                    log.warning("exposures dropped: %s", exc)
                    self.exposures.drop("failed" if exc.retryable else "rejected", len(batch))
                    return
                await asyncio.sleep(backoff_seconds(attempt, options.retry_base))
                continue
            self.exposures.delivered(len(batch) - rejected)
            if rejected:
                self.exposures.drop("rejected", rejected)
            return

    async def flush(self) -> None:
        """Send every queued exposure now."""
        if self._events_http is None:
            return
        while batch := self.exposures.take():
            await self._deliver(batch)

    async def _send(self) -> None:
        assert self._wake is not None
        queue = self.exposures
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.exposure_options.flush_interval)
            self._wake.clear()
            while batch := queue.take():
                try:
                    await self._deliver(batch)
                except asyncio.CancelledError:
                    queue.give_back(batch)  # close() sends it
                    raise
                if len(queue) < queue.batch_size:
                    break

    async def close(self) -> None:
        """Stop the tasks, send the exposures still queued, close the connections."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()
        for http in (self._http, self._stream_http, self._events_http):
            if http is not None:
                await http.aclose()
