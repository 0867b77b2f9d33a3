"""Ingestion: decode a batch, check every event, append the valid ones in one store call,
then add what happened to the durable counters.

The batch is acknowledged only after ``EventStore.append`` returned, i.e. after the store
committed it; a retried batch finds its events already stored and counts them as duplicates
(exactly-once effect). The counters are written after the append: a crash in between loses
one batch's counts, never events, and the client's retry then counts them as duplicates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import orjson
from sqlalchemy.orm import Session

from avsb.server.db import Database
from avsb.server.errors import (
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    ValidationFailed,
    field_error,
)
from avsb.server.events import (
    AppendResult,
    EventKind,
    EventStore,
    KindSummary,
    RowBatch,
)
from avsb.server.events.types import EXPERIMENT_KINDS
from avsb.server.ingestion import repository, typed
from avsb.server.ingestion.parse import (
    MAX_BATCH_BYTES,
    MAX_EVENTS,
    MAX_SDK_EXPOSURES,
    Group,
    Intake,
    Reader,
    Rejection,
    Target,
    parse_events,
)
from avsb.server.ingestion.schemas import IngestionSummaryOut, KindOut
from avsb.server.models import Experiment

if TYPE_CHECKING:  # the runtime holds the ingestor: no import cycle at run time
    from avsb.server.runtime import LazyEventStore

log = logging.getLogger("avsb.server.ingestion")
FUTURE_TOLERANCE = timedelta(days=1)
_NOT_STORED = "The event store could not take the batch; nothing was acknowledged, retry it."
Keys = dict[str, set[str]]  # experiment key -> exposure attribute keys
# The per-experiment routes of seed 001 and the kind each one carries.
EXPERIMENT_ROUTES: Mapping[str, EventKind] = {
    "exposures": EventKind.EXPOSURE,
    "conversions": EventKind.METRIC,
    "identities": EventKind.IDENTIFY,
    "exclusions": EventKind.EXCLUSION,
    "holdout": EventKind.HOLDOUT,
    "pre-period": EventKind.COVARIATE,
    "strata": EventKind.STRATUM,
}


SDK_EXPOSURES = Target(EventKind.EXPOSURE, typed=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: int
    duplicates: int
    rejected: list[Rejection]


def decode(body: bytes, name: str = "events", limit: int = MAX_EVENTS) -> list[object]:
    """The `name` list of a batch body: 413 past 5 MiB, 422 if malformed or longer than
    `limit`."""
    if len(body) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(
            f"A batch may be at most {MAX_BATCH_BYTES} bytes.",
            details={"max_bytes": MAX_BATCH_BYTES},
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            "The body is not valid JSON.",
            [{"path": "body", "message": str(exc), "type": "json_invalid"}],
        ) from None
    if type(doc) is not dict or type(doc.get(name)) is not list:
        raise field_error(name, f"The body must be an object with an '{name}' array.")
    extra = sorted(doc.keys() - {name})
    if extra:
        raise field_error(str(extra[0])[:100], "Unknown field.", "extra_forbidden")
    events: list[object] = doc[name]
    if len(events) > limit:
        message = f"A batch may hold at most {limit} {name}, got {len(events)}."
        raise field_error(name, message, "too_long")
    return events


def apportion(total: int, sizes: Mapping[Group, int]) -> dict[Group, int]:
    """Split ``total`` duplicates over groups in proportion to their sizes (largest remainder).

    Exact whenever it can be: no duplicates, all duplicates, or a single group.
    """
    whole = sum(sizes.values())
    if total <= 0 or whole == 0:
        return dict.fromkeys(sizes, 0)
    if total >= whole:
        return dict(sizes)
    shares = {group: total * size / whole for group, size in sizes.items()}
    out = {group: int(share) for group, share in shares.items()}
    order = sorted(shares, key=lambda g: shares[g] - out[g], reverse=True)
    for group in order[: total - sum(out.values())]:
        out[group] += 1
    return out


def _deltas(intake: Intake, result: AppendResult) -> list[repository.CountDelta]:
    received = intake.received()
    duplicates = apportion(result.duplicates, received)
    return [
        repository.CountDelta(
            experiment=group[0],
            kind=group[1],
            received=received[group],
            accepted=received[group] - duplicates.get(group, 0),
            duplicates=duplicates.get(group, 0),
            rejected=intake.rejected_groups[group],
        )
        for group in sorted(set(received) | set(intake.rejected_groups))
    ]


class CountBuffer:
    """Counter deltas merged in memory and written in one transaction by ``flush``: every
    second, before an ingestion summary is read, and at shutdown. A crash loses at most the
    last second of counts (never events); a batch retried after it counts as duplicates.

    Flushes run one at a time (``_flushing``): a flush that finds nothing to take must not
    return while another one is still writing what it took, or a summary read right after it
    would miss counts that are on their way to the database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._counts: dict[tuple[str, str, str, str], list[int]] = {}
        self._keys: dict[tuple[str, str, str], set[str]] = {}

    def add(
        self, org_id: str, project_id: str, deltas: list[repository.CountDelta], keys: Keys
    ) -> None:
        with self._lock:
            for d in deltas:
                total = self._counts.setdefault((org_id, project_id, d.experiment, d.kind), [0] * 4)
                for i, value in enumerate((d.received, d.accepted, d.duplicates, d.rejected)):
                    total[i] += value
            for experiment, new in keys.items():
                self._keys.setdefault((org_id, project_id, experiment), set()).update(new)

    def flush(self) -> None:
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            keys, self._keys = self._keys, {}
        if not counts and not keys:
            return
        try:
            with self._db.transaction() as session:
                by_project: dict[tuple[str, str], list[repository.CountDelta]] = {}
                for (org_id, project_id, experiment, kind), values in sorted(counts.items()):
                    delta = repository.CountDelta(experiment, kind, *values)
                    by_project.setdefault((org_id, project_id), []).append(delta)
                for (org_id, project_id), deltas in by_project.items():
                    repository.add_counts(session, org_id, project_id, deltas)
                for (org_id, project_id, experiment), new in keys.items():
                    repository.add_attribute_keys(session, org_id, project_id, experiment, new)
        except Exception:
            self._restore(counts, keys)
            raise

    def _restore(
        self,
        counts: dict[tuple[str, str, str, str], list[int]],
        keys: dict[tuple[str, str, str], set[str]],
    ) -> None:
        """Put back what a failed flush took, for the next flush to write."""
        with self._lock:
            for group, values in counts.items():
                total = self._counts.setdefault(group, [0] * 4)
                for i, value in enumerate(values):
                    total[i] += value
            for where, new in keys.items():
                self._keys.setdefault(where, set()).update(new)


class Ingestor:
    """One per server process: the event store, the metadata database and their caches."""

    def __init__(self, db: Database, events: LazyEventStore) -> None:
        self.db = db
        self.events = events
        self.directory = repository.ExperimentDirectory(db)
        self.counts = CountBuffer(db)

    def ingest(self, org_id: str, project_id: str, target: Target, body: bytes) -> Outcome:
        """Check, store and count one batch (blocking: run it in a worker thread)."""
        return self._store(org_id, project_id, self._read(org_id, project_id, target, body))

    def _store(self, org_id: str, project_id: str, intake: Intake) -> Outcome:
        """Append a checked batch in one store call, then count it."""
        result = self._append(RowBatch(org_id, project_id, intake.events()))
        keys = {
            experiment: new
            for experiment, seen in intake.attribute_keys.items()
            if (new := self.directory.unrecorded(project_id, experiment, seen))
        }
        self.counts.add(org_id, project_id, _deltas(intake, result), keys)
        return Outcome(result.accepted, result.duplicates, intake.rejected)

    def ingest_exposures(self, org_id: str, project_id: str, body: bytes) -> Outcome:
        """`{"exposures": [...]}` of an SDK key (`POST /api/sdk/exposures`): exposure items of
        the batch route, at most `MAX_SDK_EXPOSURES`, stored and counted as that route does."""
        docs = decode(body, "exposures", MAX_SDK_EXPOSURES)
        self.directory.check_project(org_id, project_id)
        latest = datetime.now(UTC) + FUTURE_TOLERANCE
        reader = Reader(self.directory.lookup(project_id), SDK_EXPOSURES, latest)
        return self._store(org_id, project_id, parse_events(docs, reader))

    def _read(self, org_id: str, project_id: str, target: Target, body: bytes) -> Intake:
        """The typed one-pass read when the batch is well formed, else the checked one that
        names each problem (both give the same rows for a batch both accept)."""
        latest = datetime.now(UTC) + FUTURE_TOLERANCE
        if target == Target() and len(body) <= MAX_BATCH_BYTES:
            events = typed.decode(body)
            if events is not None:
                self.directory.check_project(org_id, project_id)
                intake = typed.intake(events, self.directory.lookup(project_id), latest)
                if intake is not None:
                    return intake
        docs = decode(body)
        self.directory.check_project(org_id, project_id)
        return parse_events(docs, Reader(self.directory.lookup(project_id), target, latest))

    def ingest_for_experiment(
        self, org_id: str, experiment_id: str, route: str, body: bytes
    ) -> Outcome:
        """A seed-style per-experiment batch: the kind comes from the route."""
        kind = EXPERIMENT_ROUTES[route]
        with self.db.session(write=False) as session:
            experiment = _experiment(session, org_id, experiment_id)
            project_id, key = experiment.project_id, experiment.key
        target = Target(kind, key if kind in EXPERIMENT_KINDS else None)
        return self.ingest(org_id, project_id, target, body)

    def _append(self, batch: RowBatch) -> AppendResult:
        if not len(batch.events):
            return AppendResult(0, 0)
        try:
            store = self.events.get()
            return store.append(batch)
        except StoreUnavailable as exc:  # an outage: expected, logged without a trace
            log.warning("event store append failed: %s", exc.__cause__ or exc)
            raise StoreUnavailable(_NOT_STORED) from exc
        except Exception:
            log.exception("event store append failed")
            raise StoreUnavailable(_NOT_STORED) from None


def _experiment(session: Session, org_id: str, experiment_id: str) -> Experiment:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None or experiment.org_id != org_id:
        raise NotFound(f"No experiment with id {experiment_id!r}.")
    return experiment


def summary(session: Session, store: EventStore, experiment: Experiment) -> IngestionSummaryOut:
    """Stored counts and last times (the store) beside duplicates and rejections (counters)."""
    stored = store.summary(experiment.org_id, experiment.project_id, experiment.key)
    # The experiment's rows for experiment kinds, the project's for project-wide kinds.
    rows = {row.kind: row for row in repository.counters(session, experiment)}
    kinds = []
    for kind in EventKind:
        facts = stored.kinds.get(kind) or KindSummary(0, None, None)
        row = rows.get(kind.value)
        kinds.append(
            KindOut(
                kind=kind.value,
                scope="experiment" if kind in EXPERIMENT_KINDS else "project",
                count=facts.count,
                received=row.received if row else 0,
                duplicates=row.duplicates if row else 0,
                rejected=row.rejected if row else 0,
                last_event_at=facts.last_event_at,
                last_ingested_at=facts.last_ingested_at,
            )
        )
    unknown = rows["unknown"].rejected if "unknown" in rows else 0
    return IngestionSummaryOut(
        experiment_id=experiment.id,
        experiment_key=experiment.key,
        kinds=kinds,
        count=sum(k.count for k in kinds),
        duplicates=sum(k.duplicates for k in kinds),
        rejected=sum(k.rejected for k in kinds) + unknown,
        rejected_unattributed=unknown,
        last_event_at=stored.last_event_at,
    )
