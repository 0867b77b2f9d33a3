"""Real servers for tests: the app under uvicorn in a thread on a loopback port, or as a
separate ``avsb serve`` process when a test needs several processes."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from avsb.server.app import create_app
from avsb.server.bootstrap import bootstrap
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.serving import uvicorn_options

RELAXED: dict[str, Any] = {
    "rate_limit_per_minute": 10_000_000.0,
    "rate_limit_burst": 10_000_000,
    "auth_failures_per_minute": 1_000_000,
    "token_last_used_flush_seconds": 3600.0,
    "results_refresh_minutes": 0.0,  # on only where a test asks: snapshots appear when asked
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    admin_token: str
    default_org: str
    settings: Settings
    app: Any = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def stop(self) -> None:
        """Shut the server down (its lifespan ends: background jobs stop, pools close); a
        second call does nothing."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
            self._server, self._thread = None, None


# Every in-process server started by any factory, oldest first. A server runs background
# jobs (config-change polls, outbox workers, buffer flushes) on the test process's event
# loop threads and holds a connection pool: `stop_started_since` ends those a test or a
# module started, so a worker does not carry every server it started to the end of the run.
_RUNNING: list[LiveServer] = []


def started_count() -> int:
    return len(_RUNNING)


def stop_started_since(mark: int) -> None:
    """Stop the servers started after ``started_count()`` returned ``mark``, newest first."""
    while len(_RUNNING) > mark:
        _RUNNING.pop().stop()


@dataclass
class ServerFactory:
    database_url: str
    data_dir: Path
    admin_token: str = field(default_factory=lambda: "avsb_adm_test_" + secrets.token_hex(16))
    _started: list[LiveServer] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": self.data_dir,
            "database_url": self.database_url,
            "admin_token": SecretStr(self.admin_token),
            **RELAXED,
            **overrides,
        }
        return Settings(**values)

    def start_shared(self, **overrides: Any) -> LiveServer:
        """``start`` for a session or package fixture: the server runs until the session
        ends. The per-test and per-module stops leave it alone, even when the first test to
        ask for it comes after a module's or a test's mark was taken."""
        live = self.start(**overrides)
        _RUNNING.remove(live)
        return live

    def start(self, port: int | None = None, /, **overrides: Any) -> LiveServer:
        """The app in this process, under uvicorn on ``port`` (default: a free loopback port;
        choose one first when the settings must name the server's own URL)."""
        settings = self.settings(**overrides)
        db = Database(self.database_url)
        org_id, _ = bootstrap(db, settings)
        app = create_app(settings, database=db)
        port = port or free_port()
        options = {**uvicorn_options(settings), "log_level": "warning"}  # as `avsb serve`
        config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", **options)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        # Start-up (lifespan: config load, workers) takes well under a second alone; a 2-core
        # CI box running two pytest workers and their servers has taken more than 20 s.
        deadline = time.monotonic() + 90
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("test server did not start: its thread ended")
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start within 90 s")
            time.sleep(0.02)
        live = LiveServer(  # `app`: the FastAPI management app behind the hot-path front door
            f"http://127.0.0.1:{port}", self.admin_token, org_id, settings, app.management,
            server, thread,
        )  # fmt: skip
        self._started.append(live)
        _RUNNING.append(live)
        return live

    def process(self, *args: str, **env: str) -> contextlib.AbstractContextManager[LiveServer]:
        """``avsb serve [args]`` as a separate OS process (for multi-process tests)."""
        return self.process_on(None, *args, **env)

    @contextlib.contextmanager
    def process_on(self, port: int | None, /, *args: str, **env: str) -> Iterator[LiveServer]:
        """As `process`, on ``port`` (a free one when None: tried again on another free port
        when a server elsewhere took it before this process could bind it)."""
        full_env = {
            **os.environ,
            "AVSB_DATA_DIR": str(self.data_dir),
            "AVSB_DATABASE_URL": self.database_url,
            "AVSB_ADMIN_TOKEN": self.admin_token,
            "AVSB_LOG_LEVEL": "warning",
            **env,
        }
        for attempt in range(3):
            chosen = port or free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "avsb", "serve", "--port", str(chosen), *args],
                env=full_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            url = f"http://127.0.0.1:{chosen}"
            try:
                try:
                    _wait_ready(url, proc)
                except PortTakenError:
                    if port is None and attempt < 2:
                        continue
                    raise
                yield LiveServer(url, self.admin_token, "", self.settings())
                return
            finally:
                stop_process(proc)

    def close(self) -> None:
        for live in self._started:
            live.stop()


def _process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants (Linux /proc)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(child) for child in handle.read().split())
    return found


def _listens(pid: int, port: int) -> bool:
    """Whether ``pid`` or one of its descendants holds the socket listening on ``port``."""
    held: set[str] = set()
    for each in _process_tree(pid):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{each}/fd"):
                with contextlib.suppress(OSError):
                    held.add(os.readlink(f"/proc/{each}/fd/{fd}"))
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                listening = state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
                if listening and f"socket:[{inode}]" in held:
                    return True
    return False


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> str:
    """Stop a child process (terminate, then kill after ``timeout``); return what it wrote to
    its stderr pipe, if it had one, and close the pipe."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is None:
        return ""
    try:
        return proc.stderr.read().decode(errors="replace")
    finally:
        proc.stderr.close()


class PortTakenError(RuntimeError):
    """The server process exited because another process holds its port."""


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the server ``proc`` started answers at ``url``. Another test's server may
    have taken the port between `free_port` and this process's bind (the import takes
    seconds): its answer does not count, and this process then exits on the bind failure."""
    # Generous: `--workers N` starts N + 1 processes, each importing the app; on the shared
    # box (load 20 on 2 cores) two workers took more than 90 s.
    port = httpx.URL(url).port or 80
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            taken = "address already in use" in err.lower()
            raise (PortTakenError if taken else RuntimeError)(f"server exited: {err[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            answered = httpx.get(url + "/health", timeout=1).status_code == 200
            if answered and _listens(proc.pid, port):
                return
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


class ApiClient(httpx.Client):
    """An httpx client bound to one organisation, with its id at hand."""

    org_id: str
    token: str
    server: LiveServer

    def org(self, path: str = "") -> str:
        """``/api/orgs/<this org><path>``."""
        return f"/api/orgs/{self.org_id}{path}"


@contextlib.contextmanager
def new_org_client(server: LiveServer, scopes: list[str] | None = None) -> Iterator[ApiClient]:
    """A fresh organisation and a client holding a token of it with ``scopes`` (default ``*``)."""
    with server.admin() as admin:
        org = admin.post("/api/orgs", json={"name": f"test-{secrets.token_hex(3)}"})
        assert org.status_code == 201, org.text
        org_id = org.json()["data"]["id"]
        tok = admin.post(
            f"/api/orgs/{org_id}/tokens", json={"name": "test", "scopes": scopes or ["*"]}
        )
        assert tok.status_code == 201, tok.text
    token = tok.json()["data"]["token"]
    client = ApiClient(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    )
    client.org_id, client.token, client.server = org_id, token, server
    with client:
        yield client
