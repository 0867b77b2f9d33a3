"""A schemathesis run against /openapi.json of a live server: no 5xx, every response matches
its documented status, content type, headers and schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import ServerFactory, new_org_client

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
        "ignored_auth",
        "use_after_free",
        "ensure_resource_availability",
    )
)

CONFIG = """
[generation]
max-examples = {examples}

[parameters]
"path.org_id" = "${{AVSB_ST_ORG}}"

[headers]
Authorization = "Bearer ${{AVSB_ST_TOKEN}}"
"""


def test_schemathesis__no_server_errors_and_schema_conformance(
    servers: ServerFactory, tmp_path: Path
) -> None:
    live = servers.start()
    examples = int(os.environ.get("AVSB_SCHEMATHESIS_EXAMPLES", "25"))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(examples=examples))
    with new_org_client(live) as api:
        api.post(api.org("/projects"), json={"key": "seed", "name": "Seed"})
        # The admin token: the stateful phase may revoke any token it can list, and admin tokens
        # are not listed, so the run keeps its credentials.
        env = {**os.environ, "AVSB_ST_ORG": api.org_id, "AVSB_ST_TOKEN": live.admin_token}
        result = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
                f"{live.url}/openapi.json", "--checks", CHECKS, "--workers", "1",
                "--phases", "examples,coverage,fuzzing,stateful", "--seed", "20261122",
                "--suppress-health-check", "all",
            ],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    tail = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, tail
