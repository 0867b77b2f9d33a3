"""The SDK distribution alone (`pip install ./sdk/python` into a fresh venv, no server
dependencies) against a live server in its own process (#17 must-show):

- 10,000 units x a mixed config answer as the server does (typed and ABC routes);
- exposures from in-process evaluation reach the experiment's results, one per unit;
- the server down at start gives defaults, and the SDK recovers when it comes up;
- a config change reaches the SDK by polling within one interval, and by server-sent events
  (`GET /api/sdk/config/stream`) within a second.

The SDK side runs `sdk_journey.py` with the venv's interpreter; this process builds the
scenario and asks the server.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from avsb_sdk.evaluation import attributes_from_profiles
from tests.integration.design import factories as f
from tests.integration.evaluation_api.scenario import (
    Scenario,
    as_profiles,
    build_scenario,
    random_unit,
)
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, signed
from tests.support.servers import ApiClient, LiveServer, ServerFactory, free_port, new_org_client

ROOT = Path(__file__).resolve().parents[3]
JOURNEY = Path(__file__).with_name("sdk_journey.py")
UNITS = int(os.environ.get("AVSB_SDK_PARITY_UNITS", "10000"))
SERVER_PACKAGES = ("fastapi", "sqlalchemy", "duckdb", "numpy", "scipy", "psycopg", "avsb")
Unit = tuple[str, dict[str, object]]


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with `pip install ./sdk/python` and nothing else; prints the install time."""
    home = tmp_path_factory.mktemp("sdk-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    env = _sdk_env()
    started = time.perf_counter()
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(ROOT / "sdk" / "python")],
        check=True, env=env, timeout=600,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    sys.stdout.write(f"\npip install ./sdk/python into a fresh venv: {seconds:.1f} s\n")
    assert seconds < 300
    return python


def _sdk_env() -> dict[str, str]:
    """This environment without the paths that would let the venv see the server's code."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _run(python: Path, *args: str, timeout: float = 600) -> list[dict[str, Any]]:
    env = _sdk_env()
    done = subprocess.run(
        [str(python), str(JOURNEY), *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=JOURNEY.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def server(
    servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`avsb serve` in its own process, so the server does not share this process's GIL."""
    events = tmp_path_factory.mktemp("sdk-dist") / "events.duckdb"
    with servers.process(AVSB_EVENTS_URL=str(events)) as process:
        yield process


@pytest.fixture(scope="module")
def org(server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(server) as client:
        yield client


@pytest.fixture(scope="module")
def scenario(org: ApiClient) -> Scenario:
    return build_scenario(org)


def test_installed_alone__no_server_dependencies(sdk_python: Path) -> None:
    probe = ("import importlib.util, json, avsb_sdk, avsb_sdk.evaluation; print(json.dumps("
             f"[m for m in {SERVER_PACKAGES!r} if importlib.util.find_spec(m)]))")  # fmt: skip
    done = subprocess.run([str(sdk_python), "-c", probe], capture_output=True, text=True,
                          env=_sdk_env(), cwd="/", check=True)  # fmt: skip
    assert json.loads(done.stdout) == []


def _server_answers(http: httpx.Client, sc: Scenario, unit: Unit) -> Any:
    unit_id, attributes = unit
    names = [flag["key"] for flag in sc.flags.values()]
    abc_body = {"project_id": sc.project["id"], "unit_id": unit_id,
                "profiles": as_profiles(attributes)}  # fmt: skip
    typed = http.post("/api/sdk/evaluate", headers=bearer(sc.key),
                      json={"unit_id": unit_id, "attributes": attributes})  # fmt: skip
    experiments = http.post("/abc/get_experiments", json=abc_body, headers=signed(sc.key))
    flags = http.post("/abc/get_feature_flags", headers=signed(sc.key),
                      json={**abc_body, "feature_names": names})  # fmt: skip
    data = typed.json()["data"]
    details = {k: [v["value"], v["reason"], v["variant"]] for k, v in data["flags"].items()}
    return [data, experiments.json()["exp_data"], flags.json()["data"], details]


def _ask_server(url: str, sc: Scenario, units: list[Unit]) -> list[Any]:
    def chunk(part: list[Unit]) -> list[Any]:
        # A connection per request: a kept-alive one, left idle while this thread was starved
        # on a loaded box, may be closed by the server (its keep-alive timeout is 5 s) just as
        # the next request goes out ("Server disconnected without sending a response": the
        # PostgreSQL half of a CI run, once in 30,000 requests, with idle connections kept 1 s).
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=url, timeout=30, limits=limits) as http:
            return [_server_answers(http, sc, unit) for unit in part]

    parts = [units[i::8] for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(chunk, parts))
    merged: list[Any] = [None] * len(units)
    for i, part in enumerate(results):
        merged[i::8] = part
    return merged


def test_parity__10000_units_same_answers_as_the_server(
    sdk_python: Path, server: LiveServer, scenario: Scenario, tmp_path: Path
) -> None:
    rng = random.Random(20261202)
    units = [random_unit(rng) for _ in range(UNITS)]
    work = {
        "flags": [flag["key"] for flag in scenario.flags.values()],
        "units": [[u, a, attributes_from_profiles(as_profiles(a))] for u, a in units],
    }
    (tmp_path / "units.json").write_text(json.dumps(work))
    out = tmp_path / "answers.json"
    [summary] = _run(sdk_python, "parity", server.url, scenario.key.secret,
                     str(tmp_path / "units.json"), str(out))  # fmt: skip
    local = json.loads(out.read_text())
    remote = json.loads(json.dumps(_ask_server(server.url, scenario, units)))
    assert summary["units"] == UNITS
    mismatches = [u for u, a, b in zip(units, local, remote, strict=True) if a != b]
    assert not mismatches, mismatches[:3]
    # The workload covers every kind of answer.
    typed = [answer[0] for answer in local]
    reasons = {flag["reason"] for t in typed for flag in t["flags"].values()}
    assert reasons == {"SPLIT", "TARGETING_MATCH", "DEFAULT", "STATIC", "DISABLED"}
    layer_reasons = {a["reason"] for t in typed for a in t["experiments"].values()}
    assert layer_reasons == {"assigned", "holdout", "not_in_traffic", "not_in_audience"}


def test_exposures__in_process_assignments_reach_the_results_once_per_unit(
    sdk_python: Path, org: ApiClient
) -> None:
    pid = f.create_project(org)["id"]
    experiment = f.create_experiment(org, pid, key=f.unique("sdk_exp"))
    f.act(org, experiment["id"], "start")
    key = create_sdk_key(org, pid)  # no other token: the SDK key sends the exposures
    units = 300
    [seen] = _run(sdk_python, "exposures", org.server.url, key.secret, experiment["key"],
                  str(units))  # fmt: skip
    assert seen["callbacks"] == units  # three assignments per unit, one exposure each
    assert seen["sent"] == units
    assert seen["dropped"] == {"queue_full": 0, "rejected": 0, "failed": 0}
    results = org.get(org.org(f"/experiments/{experiment['id']}/results"))
    assert results.status_code == 200, results.text
    observed = results.json()["data"]["srm"]["observed"]
    keys = [v["key"] for v in experiment["variants"]]
    assert dict(zip(keys, observed, strict=True)) == {k: seen["variants"].get(k, 0) for k in keys}
    assert sum(observed) == units


def test_server_down_at_start__defaults_then_recovers(
    sdk_python: Path, servers: ServerFactory, org: ApiClient, tmp_path: Path
) -> None:
    """The SDK starts against a port nobody listens on; then a server process starts there
    (on the same database as the module's server, which wrote the key and the flag)."""
    pid = f.create_project(org)["id"]
    flag = f.create_flag(org, pid, key=f.unique("up"), type="string",
                         default_value="from-server")["key"]  # fmt: skip
    key = create_sdk_key(org, pid)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        [str(sdk_python), str(JOURNEY), "down_then_up", url, key.secret, flag],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_sdk_env(),
    ) as sdk:  # fmt: skip
        try:
            assert sdk.stdout is not None
            down = json.loads(sdk.stdout.readline())
            assert down == {"stage": "down", "ready": False, "is_on": False,
                            "value": "fallback", "reason": "PROVIDER_NOT_READY",
                            "assigned": "not_ready"}  # fmt: skip
            with servers.process_on(port, AVSB_EVENTS_URL=str(tmp_path / "events.duckdb")):
                out, err = sdk.communicate(timeout=120)
        finally:
            sdk.kill()
    assert sdk.returncode == 0, err[-3000:]
    up = json.loads(out.splitlines()[-1])
    assert up == {"stage": "up", "ready": True, "value": "from-server"}


def _follow(python: Path, sc: Scenario, server: LiveServer, poll: float, stream: bool) -> float:
    """Seconds from a flag's creation (answered by the server) to the SDK seeing it."""
    flag = f.unique("late")
    with subprocess.Popen(
        [str(python), str(JOURNEY), "follow", server.url, sc.key.secret, flag, str(poll),
         "1" if stream else "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_sdk_env(),
    ) as sdk:  # fmt: skip
        try:
            assert sdk.stdout is not None
            ready = json.loads(sdk.stdout.readline())
            assert ready["stage"] == "ready", ready
            assert ready["streaming"] is stream
            time.sleep(poll / 3)  # somewhere inside a polling interval
            with server.admin() as admin:
                body = {"project_id": sc.project["id"], "key": flag, "type": "string",
                        "default_value": "present"}  # fmt: skip
                r = admin.post(f"/api/orgs/{sc.project['org_id']}/flags", json=body)
                changed_at = time.time()
                assert r.status_code == 201, r.text
            out, err = sdk.communicate(timeout=120)
        finally:
            sdk.kill()
    assert sdk.returncode == 0, err[-3000:]
    seen = json.loads(out.splitlines()[-1])
    assert seen["stage"] == "seen", seen
    assert seen["revision"] > ready["revision"]
    return float(seen["at"]) - changed_at


def test_polling__a_change_arrives_within_one_interval(
    sdk_python: Path, server: LiveServer, scenario: Scenario
) -> None:
    interval = 2.0
    lag = _follow(sdk_python, scenario, server, interval, stream=False)
    # one interval, plus the server's own propagation (AVSB_CHANGE_POLL_SECONDS, 0.5 s)
    assert lag <= interval + 0.75, lag


def test_server_sent_events__a_change_arrives_within_a_second(
    sdk_python: Path, server: LiveServer, scenario: Scenario
) -> None:
    """Needs `GET /api/sdk/config/stream` on the server (#17, the realtime work)."""
    lag = _follow(sdk_python, scenario, server, 60.0, stream=True)
    assert lag <= 1.0, lag


def test_sdk_key__refused_by_the_events_route(org: ApiClient, scenario: Scenario) -> None:
    """Why exposures need an events token: SDK keys may only evaluate."""
    key: SdkKey = scenario.key
    r = org.post(org.org(f"/projects/{key.project_id}/events"), json={"events": []},
                 headers=bearer(key))  # fmt: skip
    assert r.status_code == 403, r.text
