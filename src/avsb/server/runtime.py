"""Everything one server process holds: built by ``create_app(settings)``; the hot-path front
door holds it, the management app reaches it through ``app.state.runtime``. Process-wide
services (config cache, exposure buffer, ingestor, event store) live here and nowhere else."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request

from avsb.server.auth.authenticator import Authenticator
from avsb.server.auth.ratelimit import BucketPolicy, RateLimiter, make_limiter
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.evaluation_api.state import EvaluationRuntime
from avsb.server.events import EventStore, open_event_store
from avsb.server.ingestion.service import Ingestor
from avsb.server.kit.changes import ChangeWatcher
from avsb.server.kit.idempotency import KeyPolicy
from avsb.server.kit.metrics import Metrics
from avsb.server.kit.pagination import CursorSigner
from avsb.server.models import ServerState
from avsb.server.sso.service import SsoService


class LazyEventStore:
    """The event store, opened on first use: a process that never touches events never locks
    the embedded DuckDB file (which allows one writing process)."""

    def __init__(self, url: str, *, duckdb_memory_limit: str | None = None) -> None:
        self.url = url
        self.duckdb_memory_limit = duckdb_memory_limit
        self._store: EventStore | None = None
        self._lock = threading.Lock()

    def get(self) -> EventStore:
        with self._lock:
            if self._store is None:
                store = open_event_store(self.url, duckdb_memory_limit=self.duckdb_memory_limit)
                try:
                    store.ensure_schema()
                except BaseException:
                    store.close()  # the next call opens it again (the server may be back)
                    raise
                self._store = store
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


@dataclass
class Runtime:
    settings: Settings
    db: Database
    signer: CursorSigner
    limiter: RateLimiter
    authenticator: Authenticator
    watcher: ChangeWatcher
    metrics: Metrics
    key_policy: KeyPolicy
    events: LazyEventStore
    evaluation: EvaluationRuntime
    ingestor: Ingestor
    sso: SsoService | None  # single sign-on, None unless configured


def _secret_key(settings: Settings, db: Database) -> bytes:
    """The cursor-signing secret: from settings, else generated once and kept in the database."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    for _ in range(2):
        with db.transaction() as session:
            row = session.get(ServerState, "secret_key")
            if row is not None:
                return row.value.encode()
            try:
                session.add(ServerState(key="secret_key", value=secrets.token_hex(32)))
                session.flush()
            except IntegrityError:
                session.rollback()
                continue
    with db.session(write=False) as session:
        row = session.get(ServerState, "secret_key")
        assert row is not None
        return row.value.encode()


def build_runtime(settings: Settings, db: Database) -> Runtime:
    """Wire one process's components from settings (the database must be migrated)."""
    authenticator = Authenticator(
        db,
        settings.auth_failures_per_minute,
        used_audit_seconds=settings.token_used_audit_seconds,
        session_idle_seconds=settings.session_idle_seconds,
        cache_seconds=settings.auth_cache_seconds,
    )
    policy = BucketPolicy(settings.rate_limit_per_minute, settings.rate_limit_burst)
    limiter = make_limiter(db, policy, settings.rate_limit_storage, authenticator.rate_limits)
    watcher = ChangeWatcher(db, settings.change_poll_seconds)
    watcher.subscribe(authenticator.invalidate)
    metrics = Metrics()
    events = LazyEventStore(
        settings.resolved_events_url, duckdb_memory_limit=settings.events_memory_limit
    )
    evaluation = EvaluationRuntime(settings, db, metrics, events.get, authenticator)
    evaluation.subscribe(watcher)
    return Runtime(
        settings=settings,
        db=db,
        signer=CursorSigner(_secret_key(settings, db)),
        limiter=limiter,
        authenticator=authenticator,
        watcher=watcher,
        metrics=metrics,
        key_policy=KeyPolicy(
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            lock=timedelta(seconds=settings.idempotency_lock_seconds),
        ),
        events=events,
        evaluation=evaluation,
        ingestor=Ingestor(db, events),
        sso=SsoService.from_settings(settings, db),
    )


def runtime_of(request: Request) -> Runtime:
    """The runtime of the app serving ``request``."""
    rt: Runtime = request.app.state.runtime
    return rt
