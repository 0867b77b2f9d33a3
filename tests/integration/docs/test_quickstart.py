"""docs/quickstart.md runs: its `sh` blocks (curl + jq) and its Python block, in order, in
one bash script against a live server, and the server ends in the state the page says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.servers import ApiClient

ROOT = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in BLOCK.finditer((ROOT / "docs" / "quickstart.md").read_text())]


ARG = re.compile(r"""-d '((?:[^']|'"\$[A-Z_]+"')*)'""")


def test_quickstart__every_body_is_json() -> None:
    """Each ``-d`` body parses as JSON once its shell variables are filled in."""
    bodies = [m for lang, text in blocks() if lang == "sh" for m in ARG.findall(text)]
    assert len(bodies) >= 8
    for body in bodies:
        filled = re.sub(r"""'"\$([A-Z_]+)"'""", lambda m: m[1].lower(), body)
        assert isinstance(json.loads(filled), dict), body


def test_quickstart__runs_against_a_live_server(api: ApiClient, tmp_path: Path) -> None:
    script = ["set -euo pipefail"]
    for lang, text in blocks():
        if lang == "sh":
            script.append(text)
        else:
            script.append(f"{sys.executable} - <<'PYTHON'\n{text}PYTHON")
    path = tmp_path / "quickstart.sh"
    path.write_text("\n".join(script))
    env = {**os.environ, "AVSB_URL": api.server.url, "TOKEN": api.token}
    done = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "button colour" in done.stdout
    assert "new checkout" in done.stdout

    experiment = api.get(api.org("/experiments"), params={"key_prefix": "checkout_button"})
    found = experiment.json()["data"][0]
    assert (found["status"], found["decision"]["winner"]) == ("stopped", "treatment")
    flags = api.get(api.org("/flags")).json()["data"]
    assert [(f["key"], f["enabled"]) for f in flags] == [("new_checkout", False)]
    results = api.get(api.org(f"/experiments/{found['id']}/results")).json()["data"]
    purchase = next(m for m in results["metrics"] if m["key"] == "purchase")
    # user-1 and user-2 from the events, user-42 from the logged evaluation (step 5)
    assert sum(v["n"] for v in purchase["variants"]) == 3
