"""What the modules of a package import: for the tests that pin a package's import rule."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path


def forbidden_imports(package_dir: Path, allowed: Callable[[str], bool]) -> list[str]:
    """`<file>: <module>` for every import in the package's modules that `allowed` refuses."""
    found: list[str] = []
    for path in sorted(package_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            found += [f"{path.name}: {name}" for name in names if not allowed(name)]
    return found
