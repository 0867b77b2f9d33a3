"""One owner process for an embedded event store, reached by the server's workers.

DuckDB lets one process open its file for writing (chdb: one per data directory), so
`avsb serve --workers N` starts an owner process that opens the store and answers a small
request/response protocol on a Unix socket; each worker's event store is an
`OwnedEventStore`, which forwards appends and queries to it. Appends from every worker meet
in the owner's one store, whose group commit batches them; an append is acknowledged to the
worker only after the owner's store committed it, so the exactly-once contract holds across
workers as it does across threads.

The socket lives in a private (0700) directory and every connection authenticates with a
random key (`multiprocessing.connection`'s HMAC challenge) before anything is unpickled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

from avsb.server.errors import StoreUnavailable
from avsb.server.events.exposure_log import ExposureRecord
from avsb.server.events.store import EventStore, ResultRow, SqlPlan, open_event_store
from avsb.server.events.types import AppendResult, EventBatch, IngestionSummary, RowBatch

log = logging.getLogger("avsb.server.events")

SCHEME = "avsb-owner://"
KEY_ENV = "AVSB_EVENTS_OWNER_KEY"
"""The hex authentication key of the owner's socket, handed to the workers by environment."""
_FAMILY = "AF_UNIX"
_UNREACHABLE = "The event store owner process is unreachable."


def owner_url(socket_path: Path) -> str:
    return SCHEME + str(socket_path)


def is_embedded(url: str) -> bool:
    """Whether a store URL names an embedded store (DuckDB, chdb), which one process owns."""
    return not url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://", SCHEME))


class OwnerError(RuntimeError):
    """The owner's store refused a request (bad SQL, a bug): not an outage."""


class EventStoreOwner:
    """Serves one store on a Unix socket: one thread per worker connection."""

    def __init__(self, store: EventStore, socket_path: Path, authkey: bytes) -> None:
        self.store = store
        self._listener = Listener(str(socket_path), family=_FAMILY, authkey=authkey)
        self._closed = threading.Event()

    def serve_forever(self) -> None:
        """Accept connections until `close`; each is served on its own daemon thread."""
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except (OSError, EOFError, AuthenticationError):  # closed, or a failed handshake
                if self._closed.is_set():
                    return
                log.warning("event store owner: a connection failed to authenticate")
                continue
            threading.Thread(
                target=self._serve, args=(conn,), name="avsb-events-owner-conn", daemon=True
            ).start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                conn.send(self._answer(request))

    def _answer(self, request: tuple[object, ...]) -> tuple[str, object]:
        op, *args = request
        try:
            if op == "append":
                (batch,) = args
                if not isinstance(batch, EventBatch | RowBatch):
                    raise TypeError(f"not a batch: {type(batch).__name__}")
                return "ok", self.store.append(batch)
            if op == "append_exposures":
                (records,) = args
                if not isinstance(records, list):
                    raise TypeError(f"not a list of exposure records: {type(records).__name__}")
                self.store.append_exposures(records)
                return "ok", None
            if op == "query":
                (sql,) = args
                return "ok", self.store.query(str(sql))
            if op == "summary":
                org_id, project_id, experiment = (str(a) for a in args)
                return "ok", self.store.summary(org_id, project_id, experiment)
            if op == "ping":
                self.store.ping()
                return "ok", None
            if op == "ensure_schema":
                self.store.ensure_schema()
                return "ok", None
            if op == "dialect":
                return "ok", self.store.dialect
            return "error", f"unknown request {op!r}"
        except StoreUnavailable as exc:
            return "unavailable", exc.message
        except Exception as exc:
            log.exception("event store owner: %s failed", op)
            return "error", f"{type(exc).__name__}: {exc}"


class OwnedEventStore:
    """An `EventStore` whose every call runs in the owner process (see module doc).

    Connections are pooled: a thread takes an idle one (or opens one) for a call and puts
    it back after the answer, so concurrent requests of a worker run concurrently in the
    owner. A broken connection is dropped and the call fails as `StoreUnavailable` (503):
    an append whose answer was lost is retried by its client and then counts as duplicates.
    """

    def __init__(self, socket_path: str, authkey: bytes) -> None:
        self.socket_path = socket_path
        self._authkey = authkey
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._dialect: str | None = None

    @classmethod
    def from_url(cls, url: str) -> OwnedEventStore:
        key = os.environ.get(KEY_ENV)
        if not key:
            raise StoreUnavailable(f"{KEY_ENV} is not set: no key for the event store owner.")
        return cls(url.removeprefix(SCHEME), bytes.fromhex(key))

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = Client(self.socket_path, family=_FAMILY, authkey=self._authkey)
            yield conn
        except (OSError, EOFError, AuthenticationError) as exc:
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
            raise StoreUnavailable(_UNREACHABLE) from exc
        except BaseException:
            if conn is not None:  # the call was interrupted mid-way: its answer is unread
                with contextlib.suppress(OSError):
                    conn.close()
            raise
        else:
            with self._lock:
                self._idle.append(conn)

    def _call(self, *request: object) -> object:
        with self._connection() as conn:
            conn.send(request)
            status, value = conn.recv()
        if status == "ok":
            return value
        if status == "unavailable":
            raise StoreUnavailable(str(value))
        raise OwnerError(str(value))

    @property
    def dialect(self) -> str:
        if self._dialect is None:
            self._dialect = str(self._call("dialect"))
        return self._dialect

    def ensure_schema(self) -> None:
        self._call("ensure_schema")

    def append(self, batch: EventBatch | RowBatch) -> AppendResult:
        result = self._call("append", batch)
        assert isinstance(result, AppendResult)
        return result

    def append_exposures(self, records: Sequence[ExposureRecord]) -> None:
        self._call("append_exposures", list(records))

    def query(self, sql: str | SqlPlan) -> list[ResultRow]:
        text = sql if isinstance(sql, str) else sql.to_sql(self.dialect)
        rows = self._call("query", text)
        assert isinstance(rows, list)
        return rows

    def summary(self, org_id: str, project_id: str, experiment: str) -> IngestionSummary:
        result = self._call("summary", org_id, project_id, experiment)
        assert isinstance(result, IngestionSummary)
        return result

    def ping(self) -> None:
        self._call("ping")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(OSError):
                conn.close()


def run_owner(
    url: str, memory_limit: str, socket_path: str, authkey: bytes, ready: ProcessEvent
) -> None:
    """The owner process's main: open the store, serve until SIGTERM, close the store.

    SIGINT is ignored: a Ctrl-C reaches the whole process group, and the owner must outlive
    the workers, which write their buffered exposures while they shut down; the supervisor
    sends SIGTERM once they are gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    store = open_event_store(url, duckdb_memory_limit=memory_limit)
    try:
        store.ensure_schema()
        owner = EventStoreOwner(store, Path(socket_path), authkey)
        ready.set()
        try:
            owner.serve_forever()
        finally:
            owner.close()
    finally:
        store.close()
