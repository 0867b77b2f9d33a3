"""Generated files are current: each generator runs in memory and its output must equal the
committed file (run `scripts/generate_all.py` after changing the API or the settings); the
TypeScript types compile with `tsc --strict`."""

from __future__ import annotations

import runpy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from avsb.server.openapi import current_document
from tests.support.npm import node_modules

ROOT = Path(__file__).resolve().parents[3]
Json = dict[str, Any]


def script(name: str) -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "scripts" / name))


@pytest.fixture(scope="module")
def doc() -> Json:
    return current_document()


def test_api_reference__is_current(doc: Json) -> None:
    expected = script("generate_api_docs.py")["render"](doc)
    committed = (ROOT / "docs" / "api-reference.md").read_text()
    assert committed == expected, "docs/api-reference.md is stale: run scripts/generate_all.py"
    for path in doc["paths"]:
        assert f" {path}`" in committed, path


def test_typescript_types__are_current_and_compile_strict(doc: Json, tmp_path: Path) -> None:
    target = ROOT / "clients" / "typescript" / "avsb-api.d.ts"
    expected = script("generate_frontend_api_types.py")["render"](doc)
    assert target.read_text() == expected, "avsb-api.d.ts is stale: run scripts/generate_all.py"
    usage = tmp_path / "usage.ts"
    usage.write_text(
        'import type { Answer, Operations, RequestBody } from "' + str(target)[:-5] + '";\n'
        'const body: RequestBody<"POST /api/orgs/{org_id}/projects"> = '
        '{ key: "shop", name: "Shop" };\n'
        'type Me = Answer<"GET /api/me", "200">;\n'
        'const me: Me = { data: { token_id: "t", kind: "service", name: "n", org_id: "o", '
        'org_name: "O", scopes: ["*"], is_admin: false, project_id: null } };\n'
        'type Ofrep = Operations["POST /ofrep/v1/evaluate/flags/{key}"]["responses"]["200"];\n'
        'const flag: Ofrep = { key: "k", value: true, reason: "STATIC", variant: "default", '
        "metadata: {} };\n"
        "// @ts-expect-error: a project needs a name\n"
        'const bad: RequestBody<"POST /api/orgs/{org_id}/projects"> = { key: "x" };\n'
        "export { bad, body, flag, me };\n"
    )
    tsc = node_modules() / ".bin" / "tsc"
    done = subprocess.run(
        [str(tsc), "--strict", "--noEmit", "--target", "es2020", "--moduleResolution", "node",
         str(target), str(usage)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_settings_table__lists_every_setting_and_is_current() -> None:
    from avsb.server.config import Settings

    readme = (ROOT / "README.md").read_text()
    assert script("generate_settings_table.py")["render"](readme) == readme, (
        "README settings table is stale: run scripts/generate_all.py"
    )
    for name, field in Settings.model_fields.items():
        assert f"`AVSB_{name.upper()}`" in readme
        assert field.description, f"Settings.{name} needs a description (its README meaning)"
