"""Local commands (``migrate``, ``token create``) refuse to act on a database the running
server does not use, instead of quietly creating an empty one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.servers import _wait_ready, free_port

from .conftest import Cli


def test_token_create__without_a_database_refuses_and_creates_nothing(cli: Cli) -> None:
    done = cli.run("token", "create", "--name", "ci", "--scope", "projects:read")
    assert done.returncode == 2
    assert "no database at" in done.stderr
    assert "avsb migrate" in done.stderr
    assert not (cli.home / "data" / "avsb.sqlite3").exists()


def test_local_commands__know_the_running_server_and_its_data_dir(cli: Cli, tmp_path: Path) -> None:
    port = str(free_port())
    served = tmp_path / "served"
    env = {**cli.env, "AVSB_DATA_DIR": str(served), "AVSB_PORT": port, "AVSB_ADMIN_TOKEN": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "avsb", "serve"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        assert (served / f"server-{port}.json").exists()

        other = cli.run("migrate", AVSB_DATA_DIR=str(tmp_path / "elsewhere"), AVSB_PORT=port)
        assert other.returncode == 2
        assert f"listening on 127.0.0.1:{port}" in other.stderr
        assert "another data dir" in other.stderr
        assert not (tmp_path / "elsewhere" / "avsb.sqlite3").exists()

        made = cli.run("token", "create", "--name", "ci", "--scope", "projects:read",
                       AVSB_DATA_DIR=str(served), AVSB_PORT=port)  # fmt: skip
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip().splitlines()[-1]
        me = httpx.get(f"http://127.0.0.1:{port}/api/me",
                       headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
        assert me.status_code == 200
        as_json = cli.json("token", "create", "--name", "ci2", "--scope", "flags:read",
                           AVSB_DATA_DIR=str(served), AVSB_PORT=port)  # fmt: skip
        assert as_json["token"].startswith("avsb_svc_")
        migrated = cli.json("migrate", AVSB_DATA_DIR=str(served), AVSB_PORT=port)
        assert migrated["status"] == "up_to_date"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert not (served / f"server-{port}.json").exists()
    # no server any more: a fresh data dir may be migrated
    fresh = cli.run("migrate", AVSB_DATA_DIR=str(tmp_path / "fresh"), AVSB_PORT=port)
    assert fresh.returncode == 0, fresh.stderr
    assert (tmp_path / "fresh" / "avsb.sqlite3").exists()
