"""Exposure logging off the request path: a bounded buffer flushed in batches by a thread.

A request that computed an answer appends one record of its exposures to an in-memory list
(`avsb.server.events.exposure_log`); an answer replayed from the memo (`cache.AnswerMemo`)
logs nothing, as its exposures were logged when it was computed. A background thread writes
the buffer to the event store when it holds a batch (`AVSB_EXPOSURE_FLUSH_BATCH_SIZE`
exposures) or every `AVSB_EXPOSURE_FLUSH_SECONDS`, and once more on shutdown. Records leave
the buffer only after the store committed them, so a failed write keeps them for the next
try. When the buffer holds `AVSB_EXPOSURE_BUFFER_SIZE` exposures a new one is dropped (never
an old one: the first exposure is the one analysis keeps) and counted in
`avsb_exposures_dropped_total`.

Exposure event ids derive from (experiment, unit), so the store's first-write-wins dedupe
keeps one exposure per unit and experiment however often it is logged. The request path does
no deduplication of its own: a lookup per exposure in a memory of recent pairs cost more on
the event loop than the store spends skipping the few repeats that reach it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from avsb.server.config import Settings
from avsb.server.evaluation_api.cache import CompiledProject, Exposed
from avsb.server.evaluation_api.worker import BackgroundLoop
from avsb.server.events import EventStore
from avsb.server.events.exposure_log import ExposureRecord, exposure_count, exposure_event_id
from avsb.server.kit.metrics import Metrics

__all__ = ["ExposureBuffer", "ExposureRecord", "exposure_event_id"]

log = logging.getLogger("avsb.server.evaluation")

MAX_BACKOFF_SECONDS = 30.0
SHUTDOWN_ATTEMPTS = 5
_DROPPED = "avsb_exposures_dropped_total"


class ExposureBuffer(BackgroundLoop):
    """Bounded in-memory exposures and the thread that writes them to the event store."""

    thread_name = "avsb-exposures"

    def __init__(
        self, settings: Settings, store: Callable[[], EventStore], metrics: Metrics
    ) -> None:
        super().__init__()
        self.capacity = settings.exposure_buffer_size
        self.batch_size = settings.exposure_flush_batch_size
        self.interval = settings.exposure_flush_seconds
        self._store = store
        self._metrics = metrics
        self._records: list[ExposureRecord] = []
        self._size = 0  # exposures in `_records`
        self._flush_lock = threading.Lock()
        metrics.gauge(
            "avsb_exposure_buffer_size",
            lambda: float(self._size),
            "Exposures awaiting a flush.",
        )
        for name, doc in (
            ("avsb_exposures_flushed_total", "Exposures written to the event store."),
            (_DROPPED, "Exposures dropped: the buffer was full, or the store failed at shutdown."),
            ("avsb_exposure_flush_failures_total", "Exposure writes that failed (kept, retried)."),
        ):
            metrics.inc(name, amount=0.0, doc=doc)

    def __len__(self) -> int:
        """The exposures buffered."""
        return self._size

    def log(
        self, project: CompiledProject, unit_id: str, attributes: str, exposed: tuple[Exposed, ...]
    ) -> bool:
        """Buffer one answer's exposures (`cache.remembered` makes them from its assignments,
        and the unit's attributes JSON text); False when the full buffer dropped some."""
        wanted = len(exposed)
        at_us = time.time_ns() // 1000
        with self._cond:  # one lock round per answer, not per exposure
            kept = min(wanted, max(self.capacity - self._size, 0))
            if kept:
                pairs = exposed if kept == wanted else exposed[:kept]
                self._records.append(
                    (project.org_id, project.project_id, unit_id, at_us, attributes, pairs)
                )
                self._size += kept
                if self._size >= self.batch_size and self._size - kept < self.batch_size:
                    self._cond.notify()  # this answer filled a batch
        if kept == wanted:
            return True
        self._metrics.inc(_DROPPED, (("reason", "buffer_full"),), float(wanted - kept))
        return False

    def _head(self) -> list[ExposureRecord]:
        """The oldest records holding at most one batch of exposures, or the oldest record
        alone when it holds more (called under the lock)."""
        size = 0
        for end, record in enumerate(self._records):
            size += len(record[5])
            if size > self.batch_size:
                return self._records[: max(end, 1)]
        return self._records[:]

    def flush(self) -> bool:
        """Write everything buffered now, batch by batch; False if the store failed."""
        with self._flush_lock:
            while True:
                with self._cond:
                    chunk = self._head()
                if not chunk:
                    return True
                count = exposure_count(chunk)
                try:
                    self._write(chunk)  # idempotent: a retried chunk never double counts
                except Exception as exc:
                    self._failed(count, exc)
                    self._metrics.inc("avsb_exposure_flush_failures_total")
                    return False
                with self._cond:  # only this thread removes, so the head is still `chunk`
                    del self._records[: len(chunk)]
                    self._size -= count
                self._metrics.inc("avsb_exposures_flushed_total", amount=float(count))

    def _write(self, chunk: list[ExposureRecord]) -> None:
        """Write `chunk` where exposures go (here: the event store)."""
        self._store().append_exposures(chunk)

    def _failed(self, count: int, exc: Exception) -> None:
        log.error("exposure flush of %d failed; kept for a retry", count, exc_info=exc)

    def _wait(self, failures: int) -> bool:
        """Sleep until a batch is full or the interval passed (after failures: the backoff,
        however full the buffer); False on shutdown."""
        with self._cond:
            full = self._size >= self.batch_size
            if not self._stopping and (failures or not full):
                backoff = self.interval * 2**failures
                self._cond.wait(min(backoff, MAX_BACKOFF_SECONDS) if failures else self.interval)
            return not self._stopping

    def _run(self) -> None:
        failures = 0
        while self._wait(failures):
            failures = 0 if self.flush() else min(failures + 1, 16)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the thread and write what is left; what cannot be written is counted dropped."""
        super().stop(timeout)
        for attempt in range(SHUTDOWN_ATTEMPTS):
            if self.flush():
                return
            time.sleep(0.2 * 2**attempt)
        with self._cond:
            lost, self._records, self._size = self._size, [], 0
        log.error("%d exposures could not be written before shutdown", lost)
        self._metrics.inc(_DROPPED, (("reason", "shutdown"),), float(lost))
