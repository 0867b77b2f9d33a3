"""Guards of the local commands (``migrate``, ``token create``...), which open the database
of the configured data dir directly: they must not quietly create or change a database that
the running server does not use.

``avsb serve`` records itself in ``<data_dir>/server-<port>.json`` (pid, host, port) while it
runs. A local command then refuses when

* something listens on the configured host and port but no live server of this data dir is
  recorded for that port: the server there runs with another data dir (or database), so the
  command would act on a database nobody serves;
* the command needs an existing database (everything but ``migrate``) and the configured
  SQLite file does not exist: it would create an empty one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from avsb.cli.client import USAGE_EXIT, fail
from avsb.server.config import Settings


def marker_path(settings: Settings) -> Path:
    return settings.data_dir / f"server-{settings.port}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_server(settings: Settings) -> dict[str, object] | None:
    """The live ``avsb serve`` of this data dir on the configured port, if any."""
    path = marker_path(settings)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = record.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return dict(record)


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port (a wildcard bind: loopback)."""
    target = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
    with contextlib.suppress(OSError), socket.create_connection((target, port), timeout=0.5):
        return True
    return False


def sqlite_file(settings: Settings) -> Path | None:
    url = settings.resolved_database_url
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///"))


def check(settings: Settings, *, needs_database: bool) -> None:
    """Exit with a message (status 2) when the command would act on the wrong database."""
    where = f"data dir {settings.data_dir.resolve()}"
    if listening(settings.host, settings.port) and recorded_server(settings) is None:
        fail(
            f"a server is listening on {settings.host}:{settings.port}, but no running server "
            f"of {where} is recorded for that port: that server uses another data dir or "
            "database. Set AVSB_DATA_DIR / AVSB_DATABASE_URL to the server's, or use the "
            "remote commands (`avsb login`, `avsb tokens create`).",
            USAGE_EXIT,
        )
    database = sqlite_file(settings)
    if needs_database and database is not None and not database.exists():
        fail(
            f"no database at {database} ({where}): this would create an empty one. Run the "
            "command with the server's AVSB_DATA_DIR / AVSB_DATABASE_URL, or create the "
            "database first with `avsb migrate` or `avsb serve`.",
            USAGE_EXIT,
        )


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[None]:
    """Record this process as the server of its data dir while the block runs."""
    path = marker_path(settings)
    record = {
        "pid": os.getpid(),
        "host": settings.host,
        "port": settings.port,
        "started_at": datetime.now(UTC).isoformat(),
    }
    path.write_text(json.dumps(record) + "\n")

    def terminated(signum: int, _frame: FrameType | None) -> None:
        # uvicorn shuts down on SIGTERM, then raises the signal again: exit through the
        # finally below (status 128 + signal, as the default action would report)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(OSError):
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()


def load_settings() -> Settings:
    """The server's settings from the environment (`AVSB_*`, `.env`). A value they refuse
    exits with the usage status and names each faulty variable with why, never a traceback;
    the values are not echoed (some are secrets)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        faults = [
            f"AVSB_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        ]
        fail("invalid settings: " + "; ".join(faults), USAGE_EXIT)
