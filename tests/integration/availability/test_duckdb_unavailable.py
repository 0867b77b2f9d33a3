"""The embedded DuckDB store, locked by another process: ingestion, the ingestion summary and
readiness answer 503 with Retry-After (never 500), and all recover once the lock is gone,
without a restart of AvsB."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.design import factories as f
from tests.support.servers import ServerFactory, new_org_client

HOLD = (  # a process holding the DuckDB file (and its write lock) until its stdin closes
    "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
    "sys.stdin.read()"
)


def test_locked_duckdb__503_with_retry_after__then_recovers(
    servers: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        server = servers.start(events_url=f"duckdb://{path}")
        with new_org_client(server) as api, server.client() as anon:
            project = f.create_project(api)
            experiment = f.create_experiment(api, project["id"])
            event = {"type": "metric", "event_id": "e1", "event_name": "purchase",
                     "unit_id": "u1", "timestamp": datetime.now(UTC).isoformat()}  # fmt: skip
            ingest = api.org(f"/projects/{project['id']}/events")
            summary = api.org(f"/experiments/{experiment['id']}/ingestion")

            for answer in (api.post(ingest, json={"events": [event]}), api.get(summary)):
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "event_store_unavailable"
                assert int(answer.headers["Retry-After"]) >= 1
            ready = anon.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"status": "event_store_unreachable"}
            assert int(ready.headers["Retry-After"]) >= 1

            holder.communicate("", timeout=30)  # the other process lets go of the file

            assert anon.get("/readyz").status_code == 200
            stored = api.post(ingest, json={"events": [event]})
            assert stored.status_code == 200, stored.text
            assert stored.json()["data"]["accepted"] == 1
            counted = api.get(summary)
            assert counted.status_code == 200, counted.text
        server.stop()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
