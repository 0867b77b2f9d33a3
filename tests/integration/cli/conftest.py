"""A server with an event store for the CLI tests (DuckDB, or PostgreSQL in the PostgreSQL
pass), and a runner of the real ``avsb`` command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.results.conftest import default_backend, server_on
from tests.support.servers import ApiClient, LiveServer, ServerFactory, free_port, new_org_client


@dataclass
class Cli:
    """``avsb`` with a private profiles file and no server settings from the environment."""

    home: Path
    env: dict[str, str]

    def run(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "avsb", *args],
            env={**self.env, **env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def ok(self, *args: str, **env: str) -> str:
        done = self.run(*args, **env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str, **env: str) -> Any:
        """Run with ``--output json``; the whole standard output must parse."""
        return json.loads(self.ok(*args, "--output", "json", **env))


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVSB_")}
    env.update(
        {
            "AVSB_CONFIG": str(home / "profiles.toml"),
            "AVSB_DATA_DIR": str(home / "data"),
            "AVSB_PORT": str(free_port()),  # no stranger's server on the default port
            "HOME": str(home),
            "COLUMNS": "200",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
    )
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path, clean_env(tmp_path))


@pytest.fixture(scope="package")
def cli_server(
    servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with server_on(servers, default_backend(), tmp_path_factory.mktemp("cli-events")) as live:
        yield live


@pytest.fixture
def org(cli_server: LiveServer) -> Iterator[ApiClient]:
    """A ``*`` token of a brand-new organisation."""
    with new_org_client(cli_server) as client:
        yield client
