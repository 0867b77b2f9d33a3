"""`avsb serve --workers N`: N server processes on one port, one core each.

uvicorn's supervisor starts the workers, each of which builds its app with `worker_app`
(the supervisor has migrated the database and created the default organisation already).
Metadata on PostgreSQL or SQLite and events on PostgreSQL are shared by every worker as they
are. An embedded event store (DuckDB, chdb) allows one owning process: the supervisor starts
an owner process first (see `avsb.server.events.owner`) and hands the workers its socket in
`AVSB_EVENTS_URL`, so their appends and queries all go through that one process.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path

from starlette.types import ASGIApp

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.events.owner import KEY_ENV, is_embedded, owner_url, run_owner
from avsb.server.serving import uvicorn_options

OWNER_START_SECONDS = 60.0


def worker_app() -> ASGIApp:
    """The app of one worker process, from the environment (uvicorn's factory)."""
    from avsb.server.app import create_app

    settings = Settings()
    db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
    return create_app(settings, database=db)


@contextmanager
def event_store_owner(url: str, memory_limit: str) -> Iterator[dict[str, str]]:
    """Run the owner process of the embedded store at `url`; yields the environment that
    points workers at it, and stops it (after the workers) on exit."""
    home = Path(tempfile.mkdtemp(prefix="avsb-events-"))  # mode 0700: ours only
    socket_path = home / "events.sock"
    key = secrets.token_bytes(32)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process: BaseProcess = context.Process(
        target=run_owner,
        args=(url, memory_limit, str(socket_path), key, ready),
        name="avsb-events-owner",
    )
    process.start()
    try:
        deadline = time.monotonic() + OWNER_START_SECONDS
        while not ready.wait(0.1):
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the event store owner did not start (exit {process.exitcode})")
        yield {"AVSB_EVENTS_URL": owner_url(socket_path), KEY_ENV: key.hex()}
    finally:
        if process.is_alive():
            process.terminate()  # SIGTERM: it closes the store (a DuckDB checkpoint)
        process.join(OWNER_START_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
        shutil.rmtree(home, ignore_errors=True)


def serve_workers(settings: Settings, workers: int) -> None:
    """Serve with `workers` processes until a signal stops uvicorn's supervisor."""
    import uvicorn

    events_url = settings.resolved_events_url
    with _owner_if_embedded(events_url, settings.events_memory_limit) as env:
        os.environ.update(env)  # the workers are spawned from this process's environment
        uvicorn.run(
            "avsb.server.workers:worker_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            **uvicorn_options(settings),
        )


@contextmanager
def _owner_if_embedded(url: str, memory_limit: str) -> Iterator[dict[str, str]]:
    if not is_embedded(url):
        yield {}
        return
    with event_store_owner(url, memory_limit) as env:
        yield env
