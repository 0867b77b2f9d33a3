"""Exposure logging: a bounded, deduplicating queue and the batches it sends to the server.

Every real assignment the SDK hands out becomes an `Exposure`. The queue remembers the last
`dedup_size` (unit, experiment, variant) triples it accepted (an LRU) and skips repeats, calls
`on_exposure` for each new one, and keeps at most `capacity` exposures waiting; a new exposure
that finds the queue full is dropped and counted (`dropped["queue_full"]`). A sender (a thread
in `Client`, a task in `AsyncClient`) takes batches of `batch_size` when one is full or every
`flush_interval` seconds, and on close. A failed send is retried with a doubling backoff up to
`max_attempts` times; a batch the server refuses outright (4xx other than 408/429) is dropped
and counted (`dropped["rejected"]`), one still failing after every attempt too
(`dropped["failed"]`).

Event ids follow the server's recipe (`x:` + the first 40 hex digits of
SHA-256(experiment NUL unit)), so the event store keeps one exposure per unit and experiment
whichever process logged it first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("avsb_sdk")

RETRYABLE_STATUS = frozenset({408, 429})


def exposure_event_id(experiment_key: str, unit_id: str) -> str:
    """The deterministic event id of a unit's exposure to an experiment (as the server's)."""
    digest = hashlib.sha256(f"{experiment_key}\x00{unit_id}".encode("utf-8", "surrogatepass"))
    return "x:" + digest.hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Exposure:
    """A unit was shown a variant of an experiment."""

    experiment_key: str
    variant_key: str
    unit_id: str
    timestamp: datetime
    attributes: Mapping[str, object] = field(default_factory=dict)

    def as_event(self) -> dict[str, Any]:
        """The exposure as an item of `POST /api/sdk/exposures` (and of the events route)."""
        return {
            "type": "exposure",
            "event_id": exposure_event_id(self.experiment_key, self.unit_id),
            "experiment": self.experiment_key,
            "variant": self.variant_key,
            "unit_id": self.unit_id,
            "timestamp": self.timestamp.isoformat(),
            "attributes": dict(self.attributes),
        }


class SendError(Exception):
    """A batch was not delivered; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


OnExposure = Callable[[Exposure], None]


class ExposureQueue:
    """Thread-safe: deduplicates, bounds and batches exposures; counts what it drops.

    `sending=False` (`ExposureOptions.send` off) keeps only the dedup and the `on_exposure`
    callback.
    """

    def __init__(
        self,
        *,
        sending: bool = True,
        capacity: int = 10_000,
        batch_size: int = 500,
        dedup_size: int = 100_000,
        on_exposure: OnExposure | None = None,
    ) -> None:
        if capacity < 1 or batch_size < 1 or dedup_size < 0:
            raise ValueError("capacity and batch_size must be >= 1, dedup_size >= 0")
        self.sending = sending
        self.capacity = capacity
        self.batch_size = batch_size
        self.dedup_size = dedup_size
        self.on_exposure = on_exposure
        self.dropped: dict[str, int] = {"queue_full": 0, "rejected": 0, "failed": 0}
        self.sent = 0
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._items: deque[Exposure] = deque()
        self._lock = threading.Lock()
        self.batch_ready = threading.Event()
        """Set when a full batch waits (the sync sender waits on it)."""
        self.on_batch_ready: Callable[[], None] | None = None
        """Called (under no lock) when a full batch waits; the async sender sets it."""

    def __len__(self) -> int:
        return len(self._items)

    def expose(
        self, experiment_key: str, variant_key: str, unit_id: str, attributes: Mapping[str, object]
    ) -> bool:
        """`offer` an exposure happening now; a repeat costs one dict lookup, no object."""
        triple = (unit_id, experiment_key, variant_key)
        seen = self._seen
        if triple in seen:
            with self._lock:
                if triple in seen:
                    seen.move_to_end(triple)
                    return False
        return self.offer(Exposure(experiment_key, variant_key, unit_id, utc_now(), attributes))

    def offer(self, exposure: Exposure) -> bool:
        """Queue an exposure; False when it is a repeat or was dropped (queue full)."""
        triple = (exposure.unit_id, exposure.experiment_key, exposure.variant_key)
        with self._lock:
            if triple in self._seen:
                self._seen.move_to_end(triple)
                return False
            if self.sending and len(self._items) >= self.capacity:
                self.dropped["queue_full"] += 1  # not remembered: a later repeat may get in
                return False
            if self.dedup_size:
                self._seen[triple] = None
                if len(self._seen) > self.dedup_size:
                    self._seen.popitem(last=False)
            if self.sending:
                self._items.append(exposure)
            full = len(self._items) >= self.batch_size
            if full:  # under the lock, so that `take` cannot clear it first and leave it stale
                self.batch_ready.set()
        if self.on_exposure is not None:
            try:
                self.on_exposure(exposure)
            except Exception:
                log.exception("on_exposure callback failed")
        if full and self.on_batch_ready is not None:
            self.on_batch_ready()
        return True

    def take(self) -> list[Exposure]:
        """Up to `batch_size` exposures, oldest first (they stay counted as in flight)."""
        with self._lock:
            n = min(self.batch_size, len(self._items))
            batch = [self._items.popleft() for _ in range(n)]
            if len(self._items) < self.batch_size:
                self.batch_ready.clear()
            return batch

    def give_back(self, batch: list[Exposure]) -> None:
        """Put a batch that failed back at the head, to be retried first."""
        with self._lock:
            self._items.extendleft(reversed(batch))

    def delivered(self, count: int) -> None:
        """Record exposures the server accepted."""
        with self._lock:
            self.sent += count

    def drop(self, reason: str, count: int) -> None:
        """Record exposures given up for `reason` (rejected, failed)."""
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + count


def backoff_seconds(attempt: int, base: float, cap: float = 30.0) -> float:
    """The wait before retry number `attempt` (1, 2, ...): base doubling, at most `cap`."""
    return float(min(cap, base * 2 ** (attempt - 1)))


def utc_now() -> datetime:
    return datetime.now(UTC)
