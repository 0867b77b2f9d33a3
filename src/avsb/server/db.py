"""Engines and sessions for the metadata database (SQLite embedded default, PostgreSQL).

SQLite allows one writer at a time, so write sessions open with ``BEGIN IMMEDIATE`` (writers queue
at the start of their transaction instead of failing at their first write) and read sessions with
a plain deferred ``BEGIN`` on a separate pool. PostgreSQL uses one engine for both.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Select, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

_MIGRATION_LOCK_ID = 726_1122


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def _sqlite_engine(url: str, begin: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own is unreliable).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


@dataclass(slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # bind names in order, for qmark / format drivers
    # (column index, converter), built at the first execution: some drivers' converters
    # depend on the column type code the cursor reports.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None
    # Rows converted before, by their raw values: converting is pure, and most reads repeat.
    converted: dict[tuple[Any, ...], Any] = field(default_factory=dict)


_CONVERTED_ROWS = 4096


class PointQuery:
    """A prebuilt ``SELECT`` of a few rows by key, run on a raw DB-API connection.

    Compiled once per dialect: no ORM identity map, no per-call SQL compilation. Each column
    goes through its SQLAlchemy type's result processor, so values equal what the ORM gives
    (aware UTC datetimes, booleans). Rows are named tuples: ``row.id``, ``row.version``.
    """

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        names = [str(column.key) for column in stmt.selected_columns]
        self._make: Callable[[Any], Any] = collections.namedtuple("Row", names)._make  # type: ignore[attr-defined]
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.stmt.compile(dialect=dialect)
            positional = tuple(compiled.positiontup) if compiled.positiontup else None
            found = self._compiled[dialect.name] = _Compiled(compiled.string, positional)
        return found

    def _processors(
        self, dialect: Dialect, description: Any
    ) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        out = []
        for index, column in enumerate(self.stmt.selected_columns):
            coltype = description[index][1] if description else None
            processor = column.type.dialect_impl(dialect).result_processor(dialect, coltype)
            if processor is not None:
                out.append((index, processor))
        return tuple(out)

    def statement(self, dialect: Dialect, params: Mapping[str, str]) -> tuple[str, Any]:
        """The SQL text and bound parameters for this dialect's driver."""
        c = self._compile(dialect)
        return c.sql, [params[name] for name in c.positional] if c.positional else dict(params)

    def convert(self, dialect: Dialect, description: Any, raws: Iterable[Any]) -> list[Any]:
        """The driver's rows as named tuples of converted values."""
        c = self._compile(dialect)
        processors = c.processors
        if processors is None:
            processors = c.processors = self._processors(dialect, description)
        rows = []
        for raw in raws:
            key = tuple(raw)
            try:
                row, hashable = c.converted.get(key), True
            except TypeError:  # an unhashable value (a JSON document): convert every time
                row, hashable = None, False
            if row is None:
                values = list(raw)
                for index, processor in processors:
                    values[index] = processor(values[index])
                row = self._make(values)
                if hashable:
                    if len(c.converted) >= _CONVERTED_ROWS:
                        c.converted.clear()
                    c.converted[key] = row
            rows.append(row)
        return rows

    def run(self, cursor: Any, dialect: Dialect, params: Mapping[str, str]) -> list[Any]:
        """Execute on a DB-API cursor; the converted rows."""
        sql, bound = self.statement(dialect, params)
        cursor.execute(sql, bound)
        return self.convert(dialect, cursor.description, cursor.fetchall())


ASYNC_READER_NAME = "avsb-point-reads"


class _AsyncReaders:
    """A few autocommit asyncio connections to PostgreSQL, for point reads on the event loop
    (no worker-thread hop). Bound to the loop that first uses them; another loop (tests run
    several) gets its own set."""

    def __init__(self, conninfo: str, size: int) -> None:
        self._conninfo = conninfo
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection[Any]] = []

    async def run(
        self, query: PointQuery, dialect: Dialect, params: Mapping[str, str]
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.close()
            self._loop, self._slots = loop, asyncio.Semaphore(self._size)
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                sql, bound = query.statement(dialect, params)
                cursor = await conn.execute(sql, bound)
                rows = query.convert(dialect, cursor.description, await cursor.fetchall())
            except BaseException:
                conn.pgconn.finish()  # its state is unknown: never reuse it
                raise
            self._idle.append(conn)
            return rows

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, application_name=ASYNC_READER_NAME
        )

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()  # no await needed, and none possible from dispose()


class Database:
    """The metadata database: a write and a read session factory over one URL."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(self.url, "BEGIN IMMEDIATE", pool_size)
            self.read_engine = _sqlite_engine(self.url, "BEGIN", pool_size)
        else:
            self.write_engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600
            )
            self.read_engine = self.write_engine
        self.write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        # Worker threads of the point reads (SQLite's all, PostgreSQL's fallback): a plain
        # executor costs less per read than the general thread pool and its limiter.
        self._reader_threads = min(8, pool_size)
        self._readers: ThreadPoolExecutor | None = None
        self._async_readers = (
            None
            if self.is_sqlite
            else _AsyncReaders(
                self.read_engine.url.set(drivername="postgresql").render_as_string(
                    hide_password=False
                ),
                size=min(8, pool_size),
            )
        )

    async def fetch(self, query: PointQuery, **params: str) -> list[Any]:
        """The rows of a point query, awaited without blocking the event loop.

        SQLite: on a pooled read connection in a worker thread (a file locked by another
        process makes the read wait there, never on the loop, so evaluation requests are not
        stalled). PostgreSQL: awaited on one of a few asyncio connections; when that fails
        to connect or answer (PostgreSQL restarting), a pooled connection in the thread pool.

        Driver errors are raised as SQLAlchemy's (``DataError`` for a NUL in PostgreSQL text,
        ...), as every other query raises them, so the error responses stay the same.
        """
        try:
            return await self._fetch(query, params)
        except sa_exc.DBAPIError:
            raise
        except Exception as exc:
            dbapi = self.read_engine.dialect.loaded_dbapi
            if not isinstance(exc, dbapi.Error):
                raise
            sql, bound = query.statement(self.read_engine.dialect, params)
            raise sa_exc.DBAPIError.instance(sql, bound, exc, dbapi.Error) from exc

    async def _fetch(self, query: PointQuery, params: Mapping[str, str]) -> list[Any]:
        if self._async_readers is not None:
            try:
                return await self._async_readers.run(query, self.read_engine.dialect, params)
            except psycopg.OperationalError:
                pass  # the pooled engine connects, waits and retries as the rest of the app
        if self._readers is None:  # created on first use: one per Database, kept until exit
            self._readers = ThreadPoolExecutor(
                max_workers=self._reader_threads, thread_name_prefix=ASYNC_READER_NAME
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._readers, functools.partial(self._fetch_pooled, query, params)
        )

    def _fetch_pooled(self, query: PointQuery, params: Mapping[str, str]) -> list[Any]:
        conn = self.read_engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                return query.run(cursor, self.read_engine.dialect, params)
            finally:
                cursor.close()
        finally:
            conn.close()  # back to the pool, which rolls the read back

    def session(self, *, write: bool) -> Session:
        """A new session; ``write`` picks the writer pool (``BEGIN IMMEDIATE`` on SQLite)."""
        return self.write_sessions() if write else self.read_sessions()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session that commits on success and rolls back on error."""
        session = self.session(write=True)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> bool:
        """True when the database answers ``SELECT 1``."""
        try:
            with self.read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        """Close every pooled connection."""
        if self._async_readers is not None:
            self._async_readers.close()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    cfg = Config()
    location = resources.files("avsb") / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def migrate(database: Database) -> None:
    """Apply every migration up to head, serialised across processes."""
    cfg = alembic_config(database.url)
    if database.is_sqlite:
        db_path = Path(database.url.removeprefix("sqlite:///"))
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{db_path}.migrate-lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with database.write_engine.connect() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
                conn.commit()
        return
    with database.write_engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
        conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_ID})
            conn.commit()
