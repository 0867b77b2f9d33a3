"""Event streams across `avsb serve` processes on one database, and shutdown with streams open."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key
from tests.integration.realtime.sse import SseClient
from tests.support.servers import (
    LiveServer,
    ServerFactory,
    _wait_ready,
    free_port,
    new_org_client,
)

STREAM = "/api/sdk/config/stream"


def _etag(url: str, key: SdkKey) -> str | None:
    r = httpx.get(url + "/api/sdk/config", headers=bearer(key))
    return r.headers["etag"] if r.status_code == 200 else None


def test_an_edit_through_one_process_reaches_a_stream_on_another_within_1s(
    servers: ServerFactory, tmp_path: Path
) -> None:
    with (
        servers.process(AVSB_EVENTS_URL=str(tmp_path / "a.duckdb")) as a,
        servers.process(AVSB_EVENTS_URL=str(tmp_path / "b.duckdb")) as b,
        new_org_client(a) as org,
    ):
        pid = f.create_project(org)["id"]
        flag = f.create_flag(org, pid, default_value="before")
        key = create_sdk_key(org, pid)
        deadline = time.monotonic() + 10
        while (seen := _etag(b.url, key)) is None or seen != _etag(a.url, key):  # B caught up
            assert time.monotonic() < deadline, "process B never compiled the project"
            time.sleep(0.05)
        with (
            SseClient(b.url, STREAM, bearer(key)) as on_b,
            SseClient(a.url, STREAM, bearer(key)) as on_a,
        ):
            assert on_b.status == on_a.status == 200
            assert on_a.event().id == on_b.event().id
            delays = []
            for value in ("one", "two", "three"):
                r = org.patch(org.org(f"/flags/{flag['id']}"), json={"default_value": value})
                assert r.status_code == 200, r.text
                written = time.monotonic()
                seen_b, seen_a = on_b.event(timeout=5), on_a.event(timeout=5)
                delays.append(seen_b.at - written)
                assert seen_a.id == seen_b.id  # one version id in every process
                etag = httpx.get(b.url + "/api/sdk/config", headers=bearer(key)).headers["etag"]
                assert json.loads(seen_b.data)["etag"] == etag
            assert max(delays) < 1.0, delays


def test_shutdown_with_open_streams_ends_in_bounded_time(
    servers: ServerFactory, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AVSB_DATA_DIR": str(servers.data_dir),
        "AVSB_DATABASE_URL": servers.database_url,
        "AVSB_ADMIN_TOKEN": servers.admin_token,
        "AVSB_EVENTS_URL": str(tmp_path / "events.duckdb"),
        "AVSB_LOG_LEVEL": "warning",
        "AVSB_SHUTDOWN_GRACE_SECONDS": "1",
    }
    proc = subprocess.Popen([sys.executable, "-m", "avsb", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    streams: list[SseClient] = []
    try:
        _wait_ready(url, proc)
        live = LiveServer(url, servers.admin_token, "", servers.settings())
        with new_org_client(live) as org:
            key = create_sdk_key(org, f.create_project(org)["id"])
            deadline = time.monotonic() + 10
            while httpx.get(url + "/api/sdk/config", headers=bearer(key)).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            streams = [SseClient(url, STREAM, bearer(key)) for _ in range(5)]
            assert all(s.status == 200 for s in streams)
            for s in streams:
                s.event()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        took = time.monotonic() - started
        assert took < 6.0, took  # the 1 s grace, then the streams are cancelled
        # uvicorn re-raises the signal it handled; `avsb serve` then exits through its cleanup
        # (removing its data-dir record) with 128 + SIGTERM, as a shell reports the signal
        assert proc.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
        for s in streams:
            assert s.ended.wait(5)  # the clients saw their streams end
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in err, err[-2000:]
    finally:
        for s in streams:
            s.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
