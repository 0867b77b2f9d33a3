#!/usr/bin/env python3
"""Start a throwaway PostgreSQL from the Debian binaries, run a command against it, remove it.

    python scripts/throwaway_pg.py -- <command...>

The command sees ``AVSB_TEST_PG_URL`` (a SQLAlchemy URL of a superuser) and ``AVSB_TEST_PG_DSN``
(the same as a plain libpq URL). Runs as root too: the server is
started as the ``postgres`` system user, as PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    sys.exit("PostgreSQL server binaries not found: apt-get install -y postgresql")


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parts[4])
    except (IndexError, ValueError):
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def main(argv: list[str]) -> int:
    if "--" not in argv:
        sys.exit(__doc__)
    command = argv[argv.index("--") + 1 :]
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="avsb-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    quiet = {"stdout": subprocess.DEVNULL}
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                      "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True, **quiet,
    )  # fmt: skip
    options = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    log = root / "server.log"
    subprocess.run(
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                      "-w", "start"]),
        check=True, **quiet,
    )  # fmt: skip
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    env = dict(os.environ, AVSB_TEST_PG_DSN=dsn, AVSB_TEST_PG_URL=dsn.replace("://", "+psycopg://"))
    print(f"throwaway PostgreSQL {bindir.parent.name} on 127.0.0.1:{port}", flush=True)
    try:
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False, **quiet,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
