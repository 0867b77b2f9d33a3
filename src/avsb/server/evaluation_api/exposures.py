"""Exposure logging off the request path: a bounded buffer flushed in batches by a thread.

A request only appends to an in-memory list. A background thread writes the buffer to the
event store when it holds a batch (`AVSB_EXPOSURE_FLUSH_BATCH_SIZE`) or every
`AVSB_EXPOSURE_FLUSH_SECONDS`, and once more on shutdown. Items leave the buffer only after
the store committed them, so a failed write keeps them for the next try. When the buffer
holds `AVSB_EXPOSURE_BUFFER_SIZE` exposures a new one is dropped (never an old one: the
first exposure is the one analysis keeps) and counted in `avsb_exposures_dropped_total`.

Exposure event ids derive from (experiment, unit), so the store's first-write-wins dedupe
keeps one exposure per unit and experiment however often it is logged; a small memory of
recently logged pairs spares the buffer most repeats.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

from avsb.server.config import Settings
from avsb.server.evaluation_api.cache import CompiledProject, Exposed
from avsb.server.evaluation_api.worker import BackgroundLoop
from avsb.server.events import EventStore
from avsb.server.events.types import EventColumns, EventKind, RowBatch, RowValue
from avsb.server.kit.metrics import Metrics

log = logging.getLogger("avsb.server.evaluation")

# (org id, project id, experiment key, variant key, unit id, unix seconds, attributes as
# JSON text): no object the garbage collector tracks
Pending = tuple[str, str, str, str, str, float, str]
RECENT_PAIRS = 100_000
"""Recently logged (experiment, unit) pairs remembered per generation (two generations)."""
MAX_BACKOFF_SECONDS = 30.0
SHUTDOWN_ATTEMPTS = 5
_DROPPED = "avsb_exposures_dropped_total"


def exposure_event_id(experiment_key: str, unit_id: str) -> str:
    """The deterministic event id of a unit's exposure to an experiment."""
    digest = hashlib.sha256(f"{experiment_key}\x00{unit_id}".encode("utf-8", "surrogatepass"))
    return "x:" + digest.hexdigest()[:40]


def _batches(items: Iterable[Pending]) -> list[RowBatch]:
    """The exposure events of `items`, one batch per project, laid out as the store's columns
    (no event object or row tuple per exposure: this runs beside the request threads)."""
    by_project: dict[tuple[str, str], tuple[list[RowValue], ...]] = {}
    for org_id, project_id, experiment, variant, unit_id, at, attributes in items:
        columns = by_project.get((org_id, project_id))
        if columns is None:
            columns = by_project[org_id, project_id] = ([], [], [], [], [], [])
        ids, experiments, variants, units, times, attrs = columns
        ids.append(exposure_event_id(experiment, unit_id))
        experiments.append(experiment)
        variants.append(variant)
        units.append(unit_id)
        times.append(round(at * 1_000_000))
        attrs.append(attributes)
    return [
        RowBatch(org, project, EventColumns({EventKind.EXPOSURE: columns}))
        for (org, project), columns in by_project.items()
    ]


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
        self._items: list[Pending] = []
        self._flush_lock = threading.Lock()
        self._recent: set[str] = set()
        self._older: set[str] = set()
        metrics.gauge(
            "avsb_exposure_buffer_size",
            lambda: float(len(self._items)),
            "Exposures awaiting a flush.",
        )
        for name, doc in (
            ("avsb_exposures_flushed_total", "Exposures written to the event store."),
            (_DROPPED, "Exposures dropped: the buffer was full, or the store failed at shutdown."),
            ("avsb_exposure_flush_failures_total", "Exposure writes that failed (kept, retried)."),
        ):
            metrics.inc(name, amount=0.0, doc=doc)

    def __len__(self) -> int:
        return len(self._items)

    def log(
        self,
        project: CompiledProject,
        unit_id: str,
        attributes: str,
        exposed: Iterable[Exposed],
    ) -> None:
        """Buffer a unit's exposures (`cache.remembered` makes them from an answer's
        assignments, and the unit's attributes JSON text)."""
        recent, older = self._recent, self._older
        fresh: list[tuple[str, str, str]] = []  # (pair, experiment key, variant key)
        for experiment_id, experiment_key, variant_key in exposed:
            # A string, not a tuple: strings are not tracked by the garbage collector.
            pair = f"{experiment_id}\x00{unit_id}"
            if pair not in recent and pair not in older:
                fresh.append((pair, experiment_key, variant_key))
        if not fresh:
            return
        org_id, project_id, now = project.org_id, project.project_id, time.time()
        with self._cond:  # one lock round per request, not per exposure
            kept = fresh[: max(self.capacity - len(self._items), 0)]
            self._items.extend(
                (org_id, project_id, experiment, variant, unit_id, now, attributes)
                for _, experiment, variant in kept
            )
            size = len(self._items)
            if size >= self.batch_size and size - len(kept) < self.batch_size:
                self._cond.notify()  # this call filled a batch
        for pair, _, _ in kept:
            self._remember(pair)
        dropped = len(fresh) - len(kept)
        if dropped:
            self._metrics.inc(_DROPPED, (("reason", "buffer_full"),), float(dropped))

    def _remember(self, pair: str) -> None:
        if len(self._recent) >= RECENT_PAIRS:
            self._older, self._recent = self._recent, set()
        self._recent.add(pair)

    def flush(self) -> bool:
        """Write everything buffered now, batch by batch; False if the store failed."""
        with self._flush_lock:
            while True:
                with self._cond:
                    chunk = self._items[: self.batch_size]
                if not chunk:
                    return True
                try:
                    store = self._store()
                    for batch in _batches(chunk):
                        store.append(batch)  # idempotent: a retried chunk never double counts
                except Exception:
                    log.exception("exposure flush of %d failed; kept for a retry", len(chunk))
                    self._metrics.inc("avsb_exposure_flush_failures_total")
                    return False
                with self._cond:  # only this thread removes, so the head is still `chunk`
                    del self._items[: len(chunk)]
                self._metrics.inc("avsb_exposures_flushed_total", amount=float(len(chunk)))

    def _wait(self, failures: int) -> bool:
        """Sleep until a batch is full or the interval passed (after failures: the backoff,
        however full the buffer); False on shutdown."""
        with self._cond:
            full = len(self._items) >= self.batch_size
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
            lost, self._items = len(self._items), []
        log.error("%d exposures could not be written before shutdown", lost)
        self._metrics.inc(_DROPPED, (("reason", "shutdown"),), float(lost))
