"""The ``avsb`` command: first start prints a one-time admin token; ``token create``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "avsb", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_first_start__creates_db_org_and_prints_admin_token(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "AVSB_DATA_DIR": str(tmp_path / "data")}
    env.pop("AVSB_DATABASE_URL", None)
    env.pop("AVSB_ADMIN_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "avsb", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        token = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not token:
            line = proc.stdout.readline()
            if line.startswith("avsb_adm_"):
                token = line.strip()
        assert token
        assert (tmp_path / "data" / "avsb.sqlite3").exists()
        for _ in range(100):
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/orgs",
                    headers={"Authorization": f"Bearer {token}"},
                )
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        orgs = r.json()["data"]
        assert [o["name"] for o in orgs] == ["Default"]
        projects = httpx.get(
            f"http://127.0.0.1:{port}/api/orgs/{orgs[0]['id']}/projects",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert projects.json() == {"data": [], "next_cursor": None, "has_more": False}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()


def test_token_create__prints_secret_that_works(tmp_path: Path) -> None:
    env = {"AVSB_DATA_DIR": str(tmp_path), "AVSB_DATABASE_URL": "", "AVSB_ADMIN_TOKEN": ""}
    env["AVSB_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    first = _run(["migrate"], env)
    assert first.returncode == 0, first.stderr
    no_org = _run(["token", "create", "--name", "ci", "--scope", "projects:read"], env)
    assert no_org.returncode != 0
    bad = _run(["token", "create", "--name", "ci", "--scope", "rockets:go"], env)
    assert bad.returncode != 0
    from avsb.server.bootstrap import bootstrap
    from avsb.server.config import Settings
    from avsb.server.db import Database

    db = Database(env["AVSB_DATABASE_URL"])
    org_id, _ = bootstrap(db, Settings(data_dir=tmp_path, database_url=env["AVSB_DATABASE_URL"]))
    made = _run(
        ["token", "create", "--name", "ci", "--scope", "projects:read", "--org", org_id], env
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("avsb_svc_")
    from avsb.server.auth.authenticator import Authenticator

    principal = Authenticator(db, 100).authenticate(secret, "cli-test")
    assert principal.org_id == org_id
    assert principal.scopes == frozenset({"projects:read"})
    db.dispose()


def test_bad_setting__named_with_usage_status_not_a_traceback(tmp_path: Path) -> None:
    """Every command that reads the server's settings refuses a bad AVSB_* value the same
    way: exit 2, each faulty variable named with why, the value not echoed."""
    env = {"AVSB_DATA_DIR": str(tmp_path), "AVSB_KEEP_ALIVE_SECONDS": "0",
           "AVSB_ADMIN_TOKEN": "not-echoed-secret", "AVSB_PORT": "eighty"}  # fmt: skip
    for args in (["serve"], ["relay", "--upstream", "http://127.0.0.1:9", "--sdk-key", "k"],
                 ["user", "list"]):  # fmt: skip
        done = _run(args, env)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert "invalid settings" in done.stderr
        assert "AVSB_KEEP_ALIVE_SECONDS" in done.stderr
        assert "AVSB_PORT" in done.stderr
        assert "not-echoed-secret" not in done.stderr + done.stdout
