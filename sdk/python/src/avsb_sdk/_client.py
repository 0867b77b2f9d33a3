"""The synchronous client: background threads keep the config fresh and send exposures."""

from __future__ import annotations

import logging
import threading
import time

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
from avsb_sdk._http import Closing, bearer_client

log = logging.getLogger("avsb_sdk")

STREAM_ABSENT_RETRY = 300.0
"""Seconds before asking again for a stream the server does not offer (404/405/501)."""
STREAM_READ_TIMEOUT = 120.0
"""A stream silent this long is reconnected (polling goes on meanwhile)."""
JOIN_TIMEOUT = 15.0


class Client(Evaluating, Closing):
    """Evaluates experiments and flags in-process, exactly as the AvsB server does.

    Starts loading on construction: until the first config arrives every getter serves its
    default (`wait_until_ready(timeout)` waits for it). A thread polls `GET /api/sdk/config`
    every `poll_interval` seconds (ETag, so an unchanged config costs a 304); another listens
    to `GET /api/sdk/config/stream` (server-sent events) when `stream` is on and the server
    offers it, refreshing as soon as a new version is announced. Real assignments are logged
    as exposures (see `ExposureOptions`).

        with Client("https://avsb.example.com", "avsb_sdk_...") as client:
            client.wait_until_ready(5)
            if client.is_on("new_checkout", "user_1", {"country": "US"}): ...
    """

    def __init__(
        self,
        base_url: str,
        sdk_key: str,
        *,
        poll_interval: float = 30.0,
        stream: bool = True,
        exposures: ExposureOptions | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = exposures or ExposureOptions()
        self.poll_interval = poll_interval
        self.exposure_options = options
        self.exposures = options.queue()
        self.streaming = False
        """Whether the config stream is connected now."""
        self._compiled = None
        self._etag = None
        self._base_url, self._sdk_key, self._transport = base_url, sdk_key, transport
        self._http = bearer_client(base_url, sdk_key, 10.0, transport)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._fetch_lock = threading.Lock()
        self._stream_http: httpx.Client | None = None
        self._threads = [threading.Thread(target=self._poll, name="avsb-sdk-poll", daemon=True)]
        if stream:
            self._stream_http = bearer_client(base_url, sdk_key, STREAM_READ_TIMEOUT, transport)
            self._threads.append(
                threading.Thread(target=self._listen, name="avsb-sdk-stream", daemon=True)
            )
        self._events_http: httpx.Client | None = None
        if options.send:
            self._events_http = bearer_client(base_url, sdk_key, 10.0, transport)
            self._threads.append(
                threading.Thread(target=self._send, name="avsb-sdk-exposures", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    # config

    def refresh(self) -> bool:
        """Fetch the config now; True when a new one was loaded, False when unchanged (304).

        Raises ApiError when the server refuses (bad key: 401/403) or fails, httpx errors
        when it cannot be reached; the background threads call this and log instead.
        """
        with self._fetch_lock:
            headers = {"If-None-Match": self._etag} if self._etag else {}
            response = self._http.get(CONFIG_PATH, headers=headers)
            if response.status_code == 304:
                return False
            self._adopt(compiled_from(response), response.headers.get("etag"))
            self._ready.set()
            return True

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait for the first config; True when it arrived within `timeout` seconds."""
        return self._ready.wait(timeout)

    def _refresh_logged(self) -> bool:
        try:
            self.refresh()
            return True
        except Exception as exc:  # a background refresh keeps the config in hand
            log.warning("config refresh failed (%s); keeping revision %s", exc, self.revision)
            return False

    def _poll(self) -> None:
        failures = 0
        while not self._stop.is_set():
            failures = 0 if self._refresh_logged() else failures + 1
            delay = self.poll_interval
            if failures and not self.ready:  # not ready yet: try again sooner
                delay = min(delay, backoff_seconds(failures, 0.25, 5.0))
            if self._stop.wait(delay):
                return

    def _listen(self) -> None:
        assert self._stream_http is not None
        delay = 1.0
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        while not self._stop.is_set():
            try:
                with self._stream_http.stream("GET", STREAM_PATH, headers=headers) as response:
                    if response.status_code in (404, 405, 501):
                        log.info("the server offers no config stream; polling only")
                        delay = STREAM_ABSENT_RETRY
                    elif response.status_code == 200:
                        self.streaming, delay = True, 1.0
                        self._refresh_logged()  # anything missed while disconnected
                        parser = SseParser()
                        for line in response.iter_lines():
                            event = parser.feed(line)
                            if event is None:
                                continue
                            delay = event.retry or delay
                            if self._is_news(event):
                                self._refresh_logged()
            except Exception as exc:
                if not self._stop.is_set():
                    log.info("config stream interrupted (%s); polling meanwhile", exc)
            finally:
                self.streaming = False
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, 30.0) if delay < STREAM_ABSENT_RETRY else delay

    # exposures

    def _post(self, batch: list[Exposure]) -> int:
        http = self._events_http
        if http is None:
            raise SendError("exposures are not sent (ExposureOptions.send is off)", retryable=False)
        try:
            response = http.post(
                EXPOSURES_PATH,
                content=batch_body(batch),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise SendError(str(exc), retryable=True) from exc
        return send_outcome(response)

    def _deliver(self, batch: list[Exposure]) -> None:
        options = self.exposure_options
        for attempt in range(1, options.max_attempts + 1):
            try:
                rejected = self._post(batch)
            except SendError as exc:
                if not exc.retryable or attempt == options.max_attempts:
                    log.warning("exposures dropped: %s", exc)
                    self.exposures.drop("failed" if exc.retryable else "rejected", len(batch))
                    return
                time.sleep(backoff_seconds(attempt, options.retry_base))
                continue
            self.exposures.delivered(len(batch) - rejected)
            if rejected:
                self.exposures.drop("rejected", rejected)
            return

    def flush(self) -> None:
        """Send every queued exposure now (from the calling thread)."""
        if self._events_http is None:
            return
        while batch := self.exposures.take():
            self._deliver(batch)

    def _send(self) -> None:
        queue = self.exposures
        while not self._stop.is_set():
            queue.batch_ready.wait(self.exposure_options.flush_interval)
            if self._stop.is_set():
                break
            while batch := queue.take():
                self._deliver(batch)
                if len(queue) < queue.batch_size:
                    break

    def close(self) -> None:
        """Stop refreshing, send the exposures still queued, close the connections."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.exposures.batch_ready.set()
        if self._stream_http is not None:
            self._stream_http.close()
        for thread in self._threads:
            thread.join(timeout=JOIN_TIMEOUT if thread.name == "avsb-sdk-exposures" else 2.0)
        self.flush()
        self._http.close()
        if self._events_http is not None:
            self._events_http.close()

    def __enter__(self) -> Client:
        return self
