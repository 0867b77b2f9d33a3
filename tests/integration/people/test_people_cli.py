"""First start creates the owner; ``avsb user ...`` administers people locally."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from avsb.cli.main import app as cli_app
from avsb.server.db import normalize_url
from tests.support.servers import LiveServer, free_port


@pytest.fixture
def fresh_db(tmp_path: Path, is_postgres: bool) -> Iterator[str]:
    """An empty metadata database of the kind under test."""
    if not is_postgres:
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    admin_url = normalize_url(os.environ["AVSB_TEST_DATABASE_URL"])
    name = f"avsb_people_{secrets.token_hex(4)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    engine.dispose()


def _serve_and_read(env: dict[str, str], port: int, want_password: bool) -> tuple[
    subprocess.Popen[str], str | None
]:  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "avsb", "serve", "--port", str(port)],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AVSB_")},
            "PYTHONUNBUFFERED": "1",
            "AVSB_ARGON2_MEMORY_KIB": "8192",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    password = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "password (shown once" in line:
            password = proc.stdout.readline().strip()
        if line.startswith("Serving on") or not line:
            break
    assert (password is not None) == want_password
    deadline = time.monotonic() + 60  # a loaded box can take a while to start a server
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, password


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=20)
    if proc.stdout is not None:
        proc.stdout.close()


def _login(port: int, email: str, password: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/auth/login", json={"email": email, "password": password}
    )


def test_first_start__owner_with_printed_one_time_password(fresh_db: str, tmp_path: Path) -> None:
    env = {"AVSB_DATABASE_URL": fresh_db, "AVSB_DATA_DIR": str(tmp_path / "d")}
    port = free_port()
    proc, password = _serve_and_read(env, port, True)
    try:
        assert password
        r = _login(port, "owner@localhost", password)
        assert r.status_code == 200, r.text
        cookie = r.cookies["avsb_session"]
        me = httpx.get(f"http://127.0.0.1:{port}/api/me", cookies={"avsb_session": cookie})
        assert me.json()["data"]["role"] == "owner"
    finally:
        _stop(proc)
    proc, _ = _serve_and_read(env, free_port(), False)  # printed once: not on the next start
    _stop(proc)


def test_first_start__owner_from_settings(fresh_db: str, tmp_path: Path) -> None:
    env = {
        "AVSB_DATABASE_URL": fresh_db,
        "AVSB_DATA_DIR": str(tmp_path / "d"),
        "AVSB_OWNER_EMAIL": "Boss@Example.test",
        "AVSB_OWNER_PASSWORD": "the-owner-password",
    }
    port = free_port()
    proc, _ = _serve_and_read(env, port, False)
    try:
        assert _login(port, "boss@example.test", "the-owner-password").status_code == 200
    finally:
        _stop(proc)


def test_user_commands(people_server: LiveServer) -> None:
    env = {
        "AVSB_DATABASE_URL": people_server.settings.resolved_database_url,
        "AVSB_DATA_DIR": str(people_server.settings.data_dir),
        "AVSB_ARGON2_MEMORY_KIB": "8192",
    }
    runner = CliRunner()
    with people_server.admin() as admin:
        org_id = admin.post("/api/orgs", json={"name": "cli-people"}).json()["data"]["id"]
    email = f"cli-{secrets.token_hex(3)}@example.test"

    def run(*args: str, password: str | None = None) -> str:
        extra = {"AVSB_USER_PASSWORD": password} if password else {}
        result = runner.invoke(cli_app, ["user", *args], env={**env, **extra})
        assert result.exit_code == 0, result.output
        return result.output

    run("create", "--email", email, "--name", "Cli", "--org", org_id, "--role", "editor",
        password="first-password-1")  # fmt: skip
    assert f"{org_id}:editor" in next(line for line in run("list").splitlines() if email in line)
    dup = runner.invoke(
        cli_app, ["user", "create", "--email", email.upper()],
        env={**env, "AVSB_USER_PASSWORD": "another-password"},
    )  # fmt: skip
    assert dup.exit_code == 2
    assert "exists" in dup.output
    r = httpx.post(
        f"{people_server.url}/auth/login", json={"email": email, "password": "first-password-1"}
    )
    assert r.status_code == 200
    run("set-password", "--email", email, password="second-password-2")
    old = httpx.post(
        f"{people_server.url}/auth/login", json={"email": email, "password": "first-password-1"}
    )
    assert old.status_code == 401
    with people_server.admin() as admin:
        other = admin.post("/api/orgs", json={"name": "cli-people-2"}).json()["data"]["id"]
    run("add-to-org", "--email", email, "--org", other, "--role", "admin")
    signed = httpx.post(
        f"{people_server.url}/auth/login", json={"email": email, "password": "second-password-2"}
    )
    cookies = {"avsb_session": signed.cookies["avsb_session"]}
    members = httpx.get(f"{people_server.url}/api/orgs/{other}/members", cookies=cookies)
    assert [m["role"] for m in members.json()["data"]] == ["admin"]
    run("disable", "--email", email)
    assert "disabled" in next(line for line in run("list").splitlines() if email in line)
    bad = runner.invoke(cli_app, ["user", "disable", "--email", "nobody@x.test"], env=env)
    assert bad.exit_code == 2


def test_user_without_organisation__me_and_no_org_access(people_server: LiveServer) -> None:
    env = {
        "AVSB_DATABASE_URL": people_server.settings.resolved_database_url,
        "AVSB_DATA_DIR": str(people_server.settings.data_dir),
        "AVSB_ARGON2_MEMORY_KIB": "8192",
        "AVSB_USER_PASSWORD": "lonely-password",
    }
    email = f"lonely-{secrets.token_hex(3)}@example.test"
    result = CliRunner().invoke(cli_app, ["user", "create", "--email", email], env=env)
    assert result.exit_code == 0, result.output
    with httpx.Client(base_url=people_server.url) as browser:
        r = browser.post("/auth/login", json={"email": email, "password": "lonely-password"})
        assert r.status_code == 200
        me = browser.get("/api/me").json()["data"]
        assert (me["kind"], me["org_id"], me["role"], me["scopes"]) == ("user", "", None, [])
        assert browser.get("/api/orgs").json()["data"] == []
        path = f"/api/orgs/{people_server.default_org}/projects"
        assert browser.get(path).status_code == 404
