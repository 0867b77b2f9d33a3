"""SIGKILL ``avsb serve`` in the middle of ingestion, restart it, resend every batch that was
not acknowledged: what is stored equals what was sent, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.servers import ServerFactory, _wait_ready, free_port

from .conftest import default_backend, events_url
from .simulation import day_start, iso

BATCHES = 40
PER_BATCH = 2_000  # half exposures, half metric events


@contextmanager
def serve(
    servers: ServerFactory, env: dict[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``avsb serve`` as its own process; yields (base URL, process)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "avsb", "serve", "--port", str(port)],
        env={
            **os.environ,
            "AVSB_DATA_DIR": str(servers.data_dir),
            "AVSB_DATABASE_URL": servers.database_url,
            "AVSB_ADMIN_TOKEN": servers.admin_token,
            "AVSB_LOG_LEVEL": "warning",
            "AVSB_RATE_LIMIT_PER_MINUTE": "100000000",
            "AVSB_RATE_LIMIT_BURST": "100000000",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def batches(experiment: str) -> list[bytes]:
    at = iso(day_start(3))
    out = []
    for b in range(BATCHES):
        events: list[dict[str, Any]] = []
        for i in range(PER_BATCH // 2):
            unit = f"u{b}-{i}"
            events.append({"type": "exposure", "event_id": f"x{b}-{i}", "experiment": experiment,
                           "variant": "control" if i % 2 else "treatment",
                           "unit_id": unit, "timestamp": at})  # fmt: skip
            events.append({"type": "metric", "event_id": f"m{b}-{i}", "event_name": "purchase",
                           "unit_id": unit, "value": float(i % 7), "timestamp": at})  # fmt: skip
        out.append(orjson.dumps({"events": events}))
    return out


def setup(url: str, admin: str) -> tuple[dict[str, str], str, str]:
    """A token's headers, the events path and the experiment id of a fresh org."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as client:
        org = client.post("/api/orgs", json={"name": "crash"}).json()["data"]["id"]
        token = client.post(f"/api/orgs/{org}/tokens", json={"name": "t", "scopes": ["*"]})
        headers = {"Authorization": f"Bearer {token.json()['data']['token']}"}
        project = client.post(f"/api/orgs/{org}/projects", json={"key": "crash", "name": "C"})
        pid = project.json()["data"]["id"]
        variants = [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}]
        body = {"project_id": pid, "key": "crash", "name": "Crash", "variants": variants}
        experiment = client.post(f"/api/orgs/{org}/experiments", json=body).json()["data"]["id"]
    return (
        headers,
        f"/api/orgs/{org}/projects/{pid}/events",
        f"/api/orgs/{org}/experiments/{experiment}",
    )


@dataclass
class Sender:
    """Posts batches in order, notes each acknowledged one, asks for the kill after a few."""

    url: str
    headers: dict[str, str]
    path: str
    kill_after: int
    acked: set[int] = field(default_factory=set)
    kill: threading.Event = field(default_factory=threading.Event)

    def run(self, bodies: list[bytes]) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            for index, body in enumerate(bodies):
                if index == self.kill_after:
                    self.kill.set()
                try:
                    r = client.post(
                        self.path, content=body, headers={"Content-Type": "application/json"}
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    self.acked.add(index)


def test_sigkill_mid_ingestion__resend_unacknowledged__stored_exactly_once(
    servers: ServerFactory, tmp_path: Path
) -> None:
    bodies = batches("crash")
    with events_url(default_backend(), tmp_path) as store_url:
        env = {"AVSB_EVENTS_URL": store_url}
        with serve(servers, env) as (url, proc):
            headers, path, experiment = setup(url, servers.admin_token)
            sender = Sender(url, headers, path, kill_after=8)
            thread = threading.Thread(target=sender.run, args=(bodies,))
            thread.start()
            assert sender.kill.wait(timeout=120)
            os.kill(proc.pid, signal.SIGKILL)  # mid-batch: the next one is in flight
            proc.wait(timeout=30)
            thread.join(timeout=60)
        acked = sender.acked
        assert 8 <= len(acked) < BATCHES
        with serve(servers, env) as (url, _), httpx.Client(base_url=url, headers=headers) as client:
            resent = []
            for index in sorted(set(range(BATCHES)) - acked):
                r = client.post(path, content=bodies[index], timeout=60)
                assert r.status_code == 200, r.text
                resent.append(r.json()["data"])
            summary = client.get(f"{experiment}/ingestion").json()["data"]

    counts = {k["kind"]: k["count"] for k in summary["kinds"]}
    assert counts["exposure"] == BATCHES * PER_BATCH // 2
    assert counts["metric"] == BATCHES * PER_BATCH // 2
    # Every resent batch was stored whole or not at all before the crash.
    assert all(r["accepted"] in (0, PER_BATCH) for r in resent)
    assert sum(r["accepted"] for r in resent) + len(acked) * PER_BATCH == BATCHES * PER_BATCH
