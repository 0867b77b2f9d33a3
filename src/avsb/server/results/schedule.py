"""The results refresh job: every ``AVSB_RESULTS_REFRESH_MINUTES`` each running experiment's
results are computed again and kept as a snapshot (when they changed), so the dashboard opens
on a recent answer without computing it.

Every server process runs the job; they share the work through ``results_refreshes``: one row
per running experiment with its next due time. A process claims a due experiment with a
conditional UPDATE that moves the due time on (only one process wins it), then computes. A
process that dies mid-refresh leaves the row due again one interval later.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.events import EventStore
from avsb.server.models import ResultsRefresh
from avsb.server.results import repository, snapshots
from avsb.server.results import service as results_service

log = logging.getLogger("avsb.server.results")
BATCH = 10  # experiments claimed per poll, so one process does not take them all
MAX_POLL_SECONDS = 30.0
MIN_POLL_SECONDS = 0.5
MAX_ERROR_CHARS = 500


def poll_seconds(settings: Settings) -> float | None:
    """How often a process looks for due refreshes; None when the job is off."""
    if settings.results_refresh_minutes <= 0:
        return None
    interval = settings.results_refresh_minutes * 60
    return min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, interval / 4))


def enrol(db: Database, now: datetime) -> int:
    """Give every running experiment without one a refresh row, due now. Two processes may
    enrol the same experiment at once: the primary key keeps one row, the loser skips it."""
    with contextlib.closing(db.session(write=False)) as session:
        missing = repository.unscheduled_running(session)
    added = 0
    for experiment_id, org_id in missing:
        try:
            with db.transaction() as session:
                session.add(
                    ResultsRefresh(experiment_id=experiment_id, org_id=org_id, next_run_at=now)
                )
            added += 1
        except IntegrityError:  # another process enrolled it, or the experiment is gone
            continue
    return added


@dataclass(frozen=True, slots=True)
class Claim:
    """A due refresh this process won, and the token that proves it."""

    experiment_id: str
    org_id: str
    token: str


def claim_due(db: Database, now: datetime, interval: timedelta, limit: int = BATCH) -> list[Claim]:
    """Claim up to ``limit`` due refreshes; each is due again ``interval`` from ``now``."""
    token = secrets.token_hex(16)
    with contextlib.closing(db.session(write=False)) as session:
        due = repository.due_refreshes(session, now, limit)
    won = []
    for experiment_id, org_id in due:
        with db.transaction() as session:
            if repository.claim_refresh(session, experiment_id, now, (now + interval, token)):
                won.append(Claim(experiment_id, org_id, token))
    return won


def refresh(
    db: Database,
    store: EventStore,
    settings: Settings,
    org_id: str,
    experiment_id: str,
    segment: str | None = None,
) -> results_service.Computed:
    """Compute an experiment's results (or a slice's) and their lift-over-time series, and
    keep them as a snapshot (what the dashboard's results page shows without computing)."""
    with contextlib.closing(db.session(write=False)) as session:
        design = results_service.load_design(session, org_id, experiment_id, segment)
    computed = results_service.compute(store, design, settings)
    series = results_service.timeseries(store, design, settings)
    snapshots.record(db, design.scope.project_id, org_id, computed.out, series)
    return computed


def _message(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


class Refresher:
    """One process's share of the job: ``run_once`` enrols, claims and refreshes."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        store: Callable[[], EventStore],
        before: Callable[[], object] = lambda: None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._store = store
        self._before = before  # writes this process's buffered ingestion bookkeeping

    def run_once(self) -> list[str]:
        """Refresh the due experiments this process claims; their ids."""
        minutes = self._settings.results_refresh_minutes
        if minutes <= 0:
            return []
        now = datetime.now(UTC)
        enrol(self._db, now)
        claims = claim_due(self._db, now, timedelta(minutes=minutes))
        if not claims:
            return []
        self._before()
        done = []
        for claim in claims:
            error = None
            try:
                refresh(self._db, self._store(), self._settings, claim.org_id, claim.experiment_id)
                done.append(claim.experiment_id)
            except Exception as exc:  # one experiment's failure must not stop the others
                log.warning("results refresh of %s failed: %s", claim.experiment_id, exc)
                error = _message(exc)
            with self._db.transaction() as session:
                repository.finish_refresh(
                    session, claim.experiment_id, claim.token, datetime.now(UTC), error
                )
        return done
