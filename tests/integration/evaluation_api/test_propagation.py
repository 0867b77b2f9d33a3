"""A write through one `avsb serve` process reaches another process's answers within 1 s."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key
from tests.support.servers import ServerFactory, new_org_client


def _value(client: httpx.Client, key: SdkKey, flag: str) -> object:
    r = client.post(f"/ofrep/v1/evaluate/flags/{flag}", headers=bearer(key),
                    json={"context": {"targetingKey": "u1"}})  # fmt: skip
    return r.json().get("value") if r.status_code == 200 else None


def _seconds_until(client: httpx.Client, key: SdkKey, flag: str, wanted: object) -> float:
    started = time.monotonic()
    while _value(client, key, flag) != wanted:
        if time.monotonic() - started > 10:
            pytest.fail(f"{wanted!r} never served")
        time.sleep(0.01)
    return time.monotonic() - started


def test_write_in_one_process__served_by_another_within_1s(
    servers: ServerFactory, tmp_path: Path
) -> None:
    # Each process its own DuckDB event file: DuckDB allows one writing process per file.
    with (
        servers.process(AVSB_EVENTS_URL=str(tmp_path / "a.duckdb")) as a,
        servers.process(AVSB_EVENTS_URL=str(tmp_path / "b.duckdb")) as b,
        new_org_client(a) as org,
        httpx.Client(base_url=a.url, timeout=10) as on_a,
        httpx.Client(base_url=b.url, timeout=10) as on_b,
    ):
        pid = f.create_project(org)["id"]
        flag = f.create_flag(org, pid, default_value="before")
        key = create_sdk_key(org, pid)
        assert _seconds_until(on_b, key, flag["key"], "before") < 1.0  # a new project, too
        timings = []
        for value in ("one", "two", "three"):
            r = org.patch(org.org(f"/flags/{flag['id']}"), json={"default_value": value})
            assert r.status_code == 200, r.text
            written = time.monotonic()
            assert _seconds_until(on_a, key, flag["key"], value) < 0.5  # the writer: at once
            _seconds_until(on_b, key, flag["key"], value)
            timings.append(time.monotonic() - written)
        assert max(timings) < 1.0, timings
