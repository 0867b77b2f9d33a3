"""The in-process evaluator answers exactly as the server: 10,000 random units, one realistic
config, compared with `/api/sdk/evaluate` and both ABC endpoints."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from avsb_sdk import Client
from avsb_sdk.evaluation import attributes_from_profiles
from tests.integration.design import factories as f
from tests.integration.evaluation_api.scenario import (
    Scenario,
    as_profiles,
    build_scenario,
    random_unit,
)
from tests.integration.evaluation_api.support import bearer, signed
from tests.support.servers import LiveServer, ServerFactory, new_org_client

UNITS = 10_000


@pytest.fixture(scope="module")
def server(
    servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`avsb serve` in its own process, so the server does not share this process's GIL."""
    events = tmp_path_factory.mktemp("parity") / "events.duckdb"
    with servers.process(AVSB_EVENTS_URL=str(events)) as process:
        yield process


@pytest.fixture(scope="module")
def scenario(server: LiveServer) -> Iterator[Scenario]:
    with new_org_client(server) as org:
        built = build_scenario(org)
        with Client(server.url, built.key.secret) as client:  # compiled in the writing process
            assert len(client.config.flag_keys) == len(built.flags)
        yield built


def _server_answers(http: httpx.Client, sc: Scenario, unit: tuple[str, dict[str, object]]) -> Any:
    unit_id, attributes = unit
    names = [flag["key"] for flag in sc.flags.values()]
    abc_body = {"project_id": sc.project["id"], "unit_id": unit_id,
                "profiles": as_profiles(attributes)}  # fmt: skip
    typed = http.post("/api/sdk/evaluate", headers=bearer(sc.key),
                      json={"unit_id": unit_id, "attributes": attributes})  # fmt: skip
    experiments = http.post("/abc/get_experiments", json=abc_body, headers=signed(sc.key))
    flags = http.post("/abc/get_feature_flags", headers=signed(sc.key),
                      json={**abc_body, "feature_names": names})  # fmt: skip
    return typed.json()["data"], experiments.json()["exp_data"], flags.json()["data"]


def _local_answers(client: Client, sc: Scenario, unit: tuple[str, dict[str, object]]) -> Any:
    unit_id, attributes = unit
    as_lists = attributes_from_profiles(as_profiles(attributes))
    names = [flag["key"] for flag in sc.flags.values()]
    return (
        client.evaluate(unit_id, attributes),
        client.get_experiments(unit_id, as_lists),
        client.get_feature_flags(unit_id, names, as_lists),
    )


def _in_chunks(url: str, sc: Scenario, units: list[tuple[str, dict[str, object]]]) -> list[Any]:
    def chunk(part: list[tuple[str, dict[str, object]]]) -> list[Any]:
        with httpx.Client(base_url=url, timeout=30) as http:
            return [_server_answers(http, sc, unit) for unit in part]

    parts = [units[i::8] for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(chunk, parts))
    merged: list[Any] = [None] * len(units)
    for i, part in enumerate(results):
        merged[i::8] = part
    return merged


def test_10000_units__same_answers_in_process_and_from_the_server(
    scenario: Scenario, server: LiveServer
) -> None:
    rng = random.Random(20261122)
    units = [random_unit(rng) for _ in range(UNITS)]
    with Client(server.url, scenario.key.secret) as client:
        local = [_local_answers(client, scenario, unit) for unit in units]
        remote = _in_chunks(server.url, scenario, units)
    mismatches = [u for u, a, b in zip(units, local, remote, strict=True) if a != b]
    assert not mismatches, mismatches[:3]
    # The workload covers every kind of answer.
    typed = [answer[0] for answer in local]
    reasons = {flag["reason"] for t in typed for flag in t["flags"].values()}
    assert reasons == {"SPLIT", "TARGETING_MATCH", "DEFAULT", "STATIC", "DISABLED"}
    layer_reasons = {a["reason"] for t in typed for a in t["experiments"].values()}
    assert layer_reasons == {"assigned", "holdout", "not_in_traffic", "not_in_audience"}
    assert any(t["held_out"] for t in typed)


def test_polling__client_follows_a_change(scenario: Scenario, server: LiveServer) -> None:
    key = f.unique("late")
    with Client(server.url, scenario.key.secret, poll_interval=0.1) as client:
        revision = client.revision
        assert client.get_flag(key, "u1", default="absent") == "absent"
        with server.admin() as admin:
            body = {"project_id": scenario.project["id"], "key": key, "type": "string",
                    "default_value": "present"}  # fmt: skip
            r = admin.post(f"/api/orgs/{scenario.project['org_id']}/flags", json=body)
            assert r.status_code == 201, r.text
        deadline = time.monotonic() + 5
        while client.get_flag(key, "u1", default="absent") != "present":
            assert time.monotonic() < deadline, "the client never saw the change"
            time.sleep(0.05)
        assert (client.revision or 0) > (revision or 0)
