"""`make run`'s path ends at a page where a person signs in: `avsb serve` on a fresh database
prints where and as whom, and that owner reaches the dashboard through the sign-in form."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port


def test_first_start__prints_where_to_sign_in_and_the_form_works(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AVSB_")},
        "PYTHONUNBUFFERED": "1",
        "AVSB_ARGON2_MEMORY_KIB": "8192",
        "AVSB_DATABASE_URL": f"sqlite:///{tmp_path / 'avsb.sqlite3'}",
        "AVSB_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "avsb", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    base = f"http://127.0.0.1:{port}"
    try:
        lines: list[str] = []
        password = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line.strip())
            if "password (shown once" in line:
                password = proc.stdout.readline().strip()
            if line.startswith("Serving on") or not line:
                break
        assert f"Dashboard: sign in at {base}/login as owner@localhost" in lines, lines
        assert password
        with httpx.Client(base_url=base, timeout=30.0) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
            start = client.get("/")
            assert start.status_code == 303
            assert client.get(start.headers["location"]).status_code == 200  # the sign-in page
            r = client.post(
                "/auth/login",
                data={"email": "owner@localhost", "password": password, "next": "/"},
            )
            assert r.status_code == 303
            projects = client.get("/", follow_redirects=True)
            assert projects.status_code == 200
            assert "<title>Projects · AvsB</title>" in projects.text
            assert "owner@localhost" in projects.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()
