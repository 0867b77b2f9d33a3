"""The ingestion bookkeeping tables, and a short-lived cache of each project's experiments."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from avsb.server.db import Database
from avsb.server.errors import Conflict, NotFound
from avsb.server.events.types import EXPERIMENT_KINDS
from avsb.server.models import Experiment, ExposureAttributeKey, IngestionCounter, Project
from avsb.server.models.base import utcnow

MAX_ATTRIBUTE_KEYS = 50
"""Attribute keys recorded per experiment (where SRM diagnosis looks); later ones are not."""


@dataclass(frozen=True, slots=True)
class CountDelta:
    experiment: str
    kind: str
    received: int
    accepted: int
    duplicates: int
    rejected: int


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def add_counts(
    session: Session, org_id: str, project_id: str, deltas: Sequence[CountDelta]
) -> None:
    """Add each delta to its (project, experiment, kind) counter row, creating it if new."""
    if not deltas:
        return
    now = utcnow()
    rows = [
        {"org_id": org_id, "project_id": project_id, "updated_at": now, **asdict(d)} for d in deltas
    ]
    stmt = _insert(session)(IngestionCounter).values(rows)
    counted = ("received", "accepted", "duplicates", "rejected")
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "experiment", "kind"],
        set_={
            **{name: getattr(IngestionCounter, name) + stmt.excluded[name] for name in counted},
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.execute(stmt)


def counters(session: Session, experiment: Experiment) -> list[IngestionCounter]:
    """Counter rows of an experiment's summary: its own rows for experiment kinds, the
    project's rows for project-wide kinds and for events whose kind was not recognised."""
    experiment_kinds = [k.value for k in EXPERIMENT_KINDS]
    stmt = select(IngestionCounter).where(
        IngestionCounter.project_id == experiment.project_id,
        or_(
            and_(
                IngestionCounter.kind.in_(experiment_kinds),
                IngestionCounter.experiment == experiment.key,
            ),
            and_(IngestionCounter.kind.not_in(experiment_kinds), IngestionCounter.experiment == ""),
        ),
    )
    return list(session.scalars(stmt))


def add_attribute_keys(
    session: Session, org_id: str, project_id: str, experiment: str, keys: Iterable[str]
) -> None:
    rows = [
        {"org_id": org_id, "project_id": project_id, "experiment": experiment, "key": key}
        for key in sorted(keys)
    ]
    if rows:
        stmt = _insert(session)(ExposureAttributeKey).values(rows).on_conflict_do_nothing()
        session.execute(stmt)


def attribute_keys(session: Session, project_id: str, experiment: str) -> list[str]:
    stmt = (
        select(ExposureAttributeKey.key)
        .where(
            ExposureAttributeKey.project_id == project_id,
            ExposureAttributeKey.experiment == experiment,
        )
        .order_by(ExposureAttributeKey.key)
        .limit(MAX_ATTRIBUTE_KEYS)
    )
    return list(session.scalars(stmt))


class _BatchLookup:
    """One batch's view of the directory: an unknown key re-reads the project once."""

    def __init__(self, directory: ExperimentDirectory, project_id: str) -> None:
        self._directory = directory
        self._project_id = project_id
        self._variants = directory.variant_map(project_id, refresh=False)
        self._refreshed = False

    def variants(self, key: str) -> frozenset[str] | None:
        found = self._variants.get(key)
        if found is None and not self._refreshed:
            self._refreshed = True
            self._variants = self._directory.variant_map(self._project_id, refresh=True)
            found = self._variants.get(key)
        return found


class ExperimentDirectory:
    """Which projects exist and which experiments (and variants) each has, per process.

    Entries live ``ttl`` seconds; a batch naming an experiment the cache does not know reads
    the project again, so a new experiment is never refused because of the cache.
    """

    def __init__(self, db: Database, ttl: float = 10.0) -> None:
        self._db = db
        self._ttl = ttl
        self._lock = threading.Lock()
        self._projects: dict[tuple[str, str], float] = {}
        self._variants: dict[str, tuple[float, Mapping[str, frozenset[str]]]] = {}
        self._recorded: dict[tuple[str, str], set[str]] = {}

    def check_project(self, org_id: str, project_id: str) -> None:
        """404 unless the org has this project; 409 when it is archived."""
        now = time.monotonic()
        with self._lock:
            if self._projects.get((org_id, project_id), 0.0) > now:
                return
        with self._db.session(write=False) as session:
            project = session.get(Project, project_id)
            if project is None or project.org_id != org_id:
                raise NotFound(f"No project with id {project_id!r}.")
            if project.archived_at is not None:
                raise Conflict(f"Project {project_id!r} is archived.", code="project_archived")
        with self._lock:
            self._projects[(org_id, project_id)] = now + self._ttl

    def lookup(self, project_id: str) -> _BatchLookup:
        return _BatchLookup(self, project_id)

    def variant_map(self, project_id: str, *, refresh: bool) -> Mapping[str, frozenset[str]]:
        now = time.monotonic()
        with self._lock:
            cached = self._variants.get(project_id)
        if cached is not None and cached[0] > now and not refresh:
            return cached[1]
        stmt = select(Experiment.key, Experiment.variants).where(
            Experiment.project_id == project_id
        )
        with self._db.session(write=False) as session:
            found = {
                str(key): frozenset(str(v["key"]) for v in variants)
                for key, variants in session.execute(stmt)
            }
        with self._lock:
            self._variants[project_id] = (now + self._ttl, found)
        return found

    def unrecorded(self, project_id: str, experiment: str, keys: set[str]) -> set[str]:
        """The keys this process has not recorded for the experiment yet (then marked)."""
        with self._lock:
            recorded = self._recorded.setdefault((project_id, experiment), set())
            room = MAX_ATTRIBUTE_KEYS - len(recorded)
            new = set(sorted(keys - recorded)[: max(room, 0)])
            recorded |= new
            return new
