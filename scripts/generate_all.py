"""Regenerate every generated file in one command (after a merge or an API change):

    PYTHONPATH=src python scripts/generate_all.py          # rewrite them
    PYTHONPATH=src python scripts/generate_all.py --check  # exit 1 when any is stale

docs/api-reference.md, clients/typescript/avsb-api.d.ts and README.md's settings table."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("generate_api_docs.py", "generate_frontend_api_types.py", "generate_settings_table.py")


def main(argv: list[str]) -> int:
    status = 0
    for name in SCRIPTS:
        module = runpy.run_path(str(HERE / name))
        status |= module["main"](argv)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
