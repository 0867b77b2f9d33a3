"""The test servers' lifetimes: a test's or a module's own servers stop when it ends; a shared
one (of a session or package fixture) keeps running whenever it was first asked for."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import (
    PortTakenError,
    ServerFactory,
    _wait_ready,
    started_count,
    stop_started_since,
)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=10.0).status_code == 200
    except httpx.TransportError:
        return False


def test_stop_since_a_mark__spares_a_shared_server(servers: ServerFactory) -> None:
    mark = started_count()
    own = servers.start()
    shared = servers.start_shared()  # first asked for after the mark, as a late fixture
    try:
        assert _up(own.url)
        assert _up(shared.url)
        stop_started_since(mark)
        assert not _up(own.url)
        assert _up(shared.url)
    finally:
        shared.stop()
        own.stop()


@pytest.mark.parametrize("shared", [False, True])
def test_stop_is_idempotent(servers: ServerFactory, shared: bool) -> None:
    live = servers.start_shared() if shared else servers.start()
    live.stop()
    live.stop()
    assert not _up(live.url)


def test_wait_ready__another_server_on_the_port_does_not_count(servers: ServerFactory) -> None:
    """A process's server is ready only when that process listens: another test's server that
    took the port first (between `free_port` and the bind) answers /health, but is not it."""
    other = servers.start()
    sleeper = subprocess.Popen(  # never listens, then exits as a failed bind would
        [sys.executable, "-c", "import time; time.sleep(2)"], stderr=subprocess.PIPE
    )
    try:
        assert _up(other.url)
        with pytest.raises(RuntimeError, match="server exited"):
            _wait_ready(other.url, sleeper)
    finally:
        sleeper.kill()
        sleeper.wait()
        if sleeper.stderr is not None:
            sleeper.stderr.close()
        other.stop()


def test_process_on_a_taken_port__refused_as_taken(servers: ServerFactory) -> None:
    """A process whose port another holds exits on its bind: `PortTakenError`, which
    `process` (no port asked) answers by trying another free port."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        with (
            pytest.raises(PortTakenError, match="address already in use"),
            servers.process_on(port),
        ):
            pass
    finally:
        holder.close()


def _fixture_scope(node: ast.FunctionDef) -> str | None:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "scope" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return None


def test_session_and_package_fixtures__start_shared_servers() -> None:
    """A session or package fixture first asked for by a module's later test is set up after
    that module's mark: a server it made with `start` would stop with the module and the next
    module would find it refusing connections. Such fixtures must use `start_shared`."""
    tests_dir = Path(__file__).resolve().parents[1]
    wrong: list[str] = []
    for path in sorted(tests_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            if _fixture_scope(node) not in ("session", "package"):
                continue
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in ("start", "process", "process_on")
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id == "servers"
                ):
                    wrong.append(f"{path.relative_to(tests_dir)}::{node.name}")
    assert wrong == []
