"""Write the settings table of README.md (between its settings-table markers) from the
Settings class: every `AVSB_*` variable, its default and its meaning.

    PYTHONPATH=src python scripts/generate_settings_table.py          # rewrite README.md
    PYTHONPATH=src python scripts/generate_settings_table.py --check  # exit 1 when stale

tests/integration/docs/test_generated.py fails when the README table is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START = "<!-- settings-table:start (scripts/generate_settings_table.py) -->"
END = "<!-- settings-table:end -->"


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, list | dict | bool):
        return f"`{json.dumps(value)}`"
    if isinstance(value, str):
        return f"`{value}`" if value else "empty"
    return f"`{value}`"


def table() -> str:
    from avsb.server.config import Settings

    prefix = str(Settings.model_config.get("env_prefix", "AVSB_"))
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{prefix}{name.upper()}` | {_default(field.default)} | {meaning} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    """``readme`` with the text between the markers replaced by the current table."""
    if START not in readme or END not in readme:
        raise SystemExit(f"{README} lacks the settings-table markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = README.read_text()
    text = render(current)
    if "--check" in argv:
        if current != text:
            print("README.md settings table is stale: run scripts/generate_settings_table.py")
            return 1
        return 0
    README.write_text(text)
    print(f"wrote the settings table of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
