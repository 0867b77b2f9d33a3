"""The layering rules of docs/layering.md, checked on the source: which package may import
which, and where process-wide state may live."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
SDK_SRC = ROOT / "sdk" / "python" / "src"
IO_LIBRARIES = ("sqlalchemy", "fastapi", "starlette", "pydantic", "httpx", "duckdb", "psycopg",
                "uvicorn", "chdb", "alembic", "requests", "socket")  # fmt: skip
WEB_FRAMEWORK = ("fastapi", "pydantic")


def _root(path: Path) -> Path:
    return SDK_SRC if path.is_relative_to(SDK_SRC) else SRC


def _module(path: Path) -> str:
    parts = path.relative_to(_root(path)).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module) of every import in `path`, relative ones resolved."""
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], base]).strip(".")
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def _files(package: str) -> list[Path]:
    root = (SDK_SRC if package.split(".")[0] == "avsb_sdk" else SRC) / package.replace(".", "/")
    files = sorted(root.rglob("*.py"))
    assert files, f"no modules in {package}"
    return files


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(_root(path))}:{line} imports {name}"
        for path in _files(package)
        for line, name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize("core", ["avsb_sdk.evaluation", "avsb.stats"])
def test_pure_cores__no_server_and_no_io(core: str) -> None:
    sdk_client = tuple(
        m
        for m in map(_module, _files("avsb_sdk"))
        if m != "avsb_sdk" and not m.startswith("avsb_sdk.evaluation")
    )
    forbidden = ("avsb.server", "avsb.cli", *sdk_client, *IO_LIBRARIES)
    assert _violations(core, forbidden) == []


def test_sdk__never_the_server_package() -> None:
    """The SDK distribution installs without the server: it may not import `avsb` at all."""
    assert _violations("avsb_sdk", ("avsb",)) == []


def test_server__evaluates_with_the_sdk_core() -> None:
    """One evaluator: the server imports `avsb_sdk.evaluation` and has no copy of its own."""
    assert not (SRC / "avsb" / "evaluation").exists()
    assert not (SRC / "avsb" / "sdk").exists()
    importers = {
        _module(path)
        for path in _files("avsb.server")
        for _, name in _imports(path)
        if name.startswith("avsb_sdk.evaluation")
    }
    assert "avsb.server.evaluation_api.sdk_routes" in importers


@pytest.mark.parametrize("hot", ["avsb.server.hotpath", "avsb.server.evaluation_api"])
def test_hot_path__no_web_framework_no_management_endpoints(hot: str) -> None:
    endpoints = sorted({_module(p) for p in (SRC / "avsb/server").rglob("endpoints.py")})
    forbidden = (*WEB_FRAMEWORK, "avsb.server.deps", "avsb.server.kit.routing", *endpoints)
    found = _violations(hot, forbidden)
    assert found == []


def test_dashboard__pages_call_services_never_repositories() -> None:
    """Pages are an HTTP layer like the API's: they call services, never a repository, and
    never an API endpoint module."""
    server = SRC / "avsb" / "server"
    forbidden = tuple(
        _module(p) for p in (*server.rglob("repository.py"), *server.rglob("endpoints.py"))
    )
    assert forbidden
    assert _violations("avsb.server.dashboard", forbidden) == []


def test_front_door__assembled_by_the_app_only() -> None:
    importers = [
        f"{path.relative_to(SRC)}:{line}"
        for path in _files("avsb")
        if not _module(path).startswith("avsb.server.hotpath")
        for line, name in _imports(path)
        if name == "avsb.server.hotpath" or name.startswith("avsb.server.hotpath.")
    ]
    # The server's app, and the relay's (a second process serving the same evaluation routes).
    assert {i.split(":")[0] for i in importers} <= {"avsb/server/app.py", "avsb/relay/app.py"}


def _on_app_state(target: ast.expr) -> TypeGuard[ast.Attribute]:
    """Whether `target` is `<app>.state.<name>` (`app`, `_app` or `<x>.app`), not request state."""
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)):
        return False
    owner = target.value.value
    name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
    return target.value.attr == "state" and name.lstrip("_") == "app"


def test_process_state__only_the_runtime_on_app_state() -> None:
    """Services live on the Runtime; `app.state` carries the Runtime and nothing else."""
    writes = []
    for path in _files("avsb.server"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign | ast.AugAssign):
                targets = [node.target]
            for target in targets:
                if _on_app_state(target):
                    writes.append((str(path.relative_to(SRC)), target.attr))
    assert writes == [("avsb/server/app.py", "runtime")]
