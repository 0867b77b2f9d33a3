"""A simulated experiment sent over HTTP, every batch twice, then read back as results, on
each event store: DuckDB (default), ClickHouse through chdb, PostgreSQL (when
``AVSB_TEST_EVENTS_PG_URL`` is set)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.design.factories import act, create_metric, create_project, post
from tests.support.servers import ApiClient, ServerFactory, new_org_client

from .conftest import server_on
from .simulation import LiftSpec, Simulated, imbalanced_experiment, lift_experiment

Json = dict[str, Any]
BACKENDS = ("duckdb", "clickhouse", "postgres")
SPEC = LiftSpec()


@dataclass
class World:
    api: ApiClient
    project: Json
    lift: Json
    srm: Json
    conversion: Json
    revenue: Json
    lift_sim: Simulated
    srm_sim: Simulated
    bad_day: str
    sends: list[tuple[Json, Json]]


def experiment(api: ApiClient, project_id: str, key: str, metrics: Json) -> Json:
    body = {
        "project_id": project_id,
        "key": key,
        "name": key,
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "metrics": metrics,
        "analysis": {"method": "frequentist", "cuped": True, "correction": "holm"},
    }
    created = post(api, "/experiments", body)
    return act(api, created["id"], "start")


def send_twice(api: ApiClient, project_id: str, sim: Simulated) -> list[tuple[Json, Json]]:
    out = []
    for batch in sim.batches():
        answers = []
        for _ in range(2):
            r = api.post(api.org(f"/projects/{project_id}/events"), json={"events": batch})
            assert r.status_code == 200, r.text
            answers.append(r.json()["data"])
        out.append((answers[0], answers[1]))
        assert answers[0] == {"accepted": len(batch), "duplicates": 0, "rejected": []}
        assert answers[1] == {"accepted": 0, "duplicates": len(batch), "rejected": []}
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"e2e-{request.param}")
    with server_on(servers, str(request.param), Path(tmp)) as live, new_org_client(live) as api:
        project = create_project(api)
        pid = project["id"]
        conversion = create_metric(api, pid, key="conversion", event_name="purchase")
        revenue = create_metric(api, pid, key="revenue", type="sum", event_name="spend")
        roles = {"primary": [conversion["id"]], "secondary": [revenue["id"]]}
        lift = experiment(api, pid, "lift", roles)
        srm = experiment(api, pid, "imbalanced", {"primary": [conversion["id"]]})
        lift_sim = lift_experiment("lift", SPEC)
        srm_sim, bad_day = imbalanced_experiment("imbalanced")
        sends = send_twice(api, pid, lift_sim) + send_twice(api, pid, srm_sim)
        yield World(api, project, lift, srm, conversion, revenue, lift_sim, srm_sim, bad_day, sends)


def results(world: World, experiment_id: str, **params: str) -> Json:
    r = world.api.get(world.api.org(f"/experiments/{experiment_id}/results"), params=params)
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def metric(data: Json, key: str) -> Json:
    found: Json = next(m for m in data["metrics"] if m["key"] == key)
    return found


class TestEndToEnd:
    def test_ingestion__counts_exact(self, world: World) -> None:
        r = world.api.get(world.api.org(f"/experiments/{world.lift['id']}/ingestion"))
        summary = r.json()["data"]
        counts = {k["kind"]: k["count"] for k in summary["kinds"]}
        expected = world.lift_sim.kinds
        assert counts["exposure"] == expected["exposure"]
        assert counts["covariate"] == expected["covariate"]
        assert counts["identify"] == expected["identify"]
        assert counts["exclusion"] == expected["exclusion"]
        assert counts["metric"] == expected["metric"]  # only the lift experiment sends metrics
        exposures = next(k for k in summary["kinds"] if k["kind"] == "exposure")
        assert exposures["received"] == 2 * expected["exposure"]
        assert exposures["duplicates"] == expected["exposure"]

    def test_results__units_exact_after_stitching_exclusions_and_bots(self, world: World) -> None:
        data = results(world, world.lift["id"])

        conversion = metric(data, "conversion")
        assert {v["key"]: v["n"] for v in conversion["variants"]} == world.lift_sim.units
        health = data["health"]
        # 52,000 exposed ids fold onto 50,000 units through the identity links.
        assert health["assigned_units"] == SPEC.units
        assert health["exclusions"]["count"] == SPEC.excluded
        assert health["bot_units"]["count"] == SPEC.bots
        assert health["multiple_variant_units"]["count"] == 0
        assert health["analysed_units"] == SPEC.units - SPEC.excluded - SPEC.bots
        assert data["srm"]["srm_detected"] is False

    def test_results__ci_covers_true_lift(self, world: World) -> None:
        (comparison,) = metric(results(world, world.lift["id"]), "conversion")["comparisons"]

        low, high = comparison["ci"]
        assert comparison["difference_type"] == "relative"
        assert low < SPEC.lift < high

    def test_results__cuped_narrows_revenue_ci(self, world: World) -> None:
        adjusted = metric(results(world, world.lift["id"]), "revenue")
        path = world.api.org(f"/experiments/{world.lift['id']}")
        patched = world.api.patch(path, json={"analysis": {"cuped": False, "correction": "holm"}})
        assert patched.status_code == 200, patched.text
        try:
            plain = metric(results(world, world.lift["id"]), "revenue")
        finally:
            restore = {"analysis": {"cuped": True, "correction": "holm"}}
            assert world.api.patch(path, json=restore).status_code == 200

        def width(m: Json) -> float:
            low, high = m["comparisons"][0]["ci"]
            return float(high - low)

        assert adjusted["cuped"]["applied"] is True
        assert plain["cuped"]["applied"] is False
        assert width(adjusted) < 0.6 * width(plain)
        assert adjusted["cuped"]["variance_reduction"] > 0.6
        low, high = adjusted["comparisons"][0]["ci"]
        assert low < SPEC.revenue_lift < high

    def test_results__imbalance_flagged_as_srm_with_its_day(self, world: World) -> None:
        data = results(world, world.srm["id"])

        assert data["srm"]["srm_detected"] is True
        assert data["srm"]["observed"] == [
            world.srm_sim.units["control"],
            world.srm_sim.units["treatment"],
        ]
        srm = data["health"]["srm"]
        assert srm["status"] == "error"
        assert srm["diagnosis"]["by_day"][0]["group"] == world.bad_day
        decision = world.api.get(world.api.org(f"/experiments/{world.srm['id']}/decision"))
        assert decision.json()["data"]["decision"] == "no_ship"
        assert decision.json()["data"]["reasons"][0]["code"] == "srm_detected"
