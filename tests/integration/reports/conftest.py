"""A server whose events live in the default store of the run (DuckDB, or PostgreSQL when
AVSB_TEST_EVENTS_PG_URL is set; metadata on SQLite or AVSB_TEST_DATABASE_URL), and one
experiment with binary, sum, categorical and guardrail metrics, ingested over HTTP."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.design.factories import act, create_metric, create_project, post
from tests.integration.results.conftest import default_backend, server_on
from tests.integration.results.simulation import day_start, iso
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

Json = dict[str, Any]
HOSTILE_NAME = '<script>alert("x")</script> & <b>bold</b>'
VARIANTS = ("control", "treatment_a", "treatment_b")
PLANS = ("free", "pro", "team")


@pytest.fixture(scope="package")
def reports_server(
    servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with server_on(servers, default_backend(), tmp_path_factory.mktemp("reports")) as live:
        yield live


@pytest.fixture
def api(reports_server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(reports_server) as client:
        yield client


@dataclass
class World:
    api: ApiClient
    project_id: str
    experiment: Json

    def path(self, suffix: str = "") -> str:
        return self.api.org(f"/experiments/{self.experiment['id']}{suffix}")


def send(api: ApiClient, project_id: str, events: list[Json]) -> None:
    for start in range(0, len(events), 2000):
        r = api.post(
            api.org(f"/projects/{project_id}/events"), json={"events": events[start : start + 2000]}
        )
        assert r.status_code == 200, r.text
        assert not r.json()["data"]["rejected"], r.text


def make_world(
    api: ApiClient,
    key: str = "checkout",
    name: str = HOSTILE_NAME,
    units: int = 150,
    seed: int = 7,
    project_id: str | None = None,
    analysis: Json | None = None,
) -> World:
    """An experiment with three arms and four metrics, and seeded per-unit outcomes."""
    pid = project_id or create_project(api)["id"]
    metrics = [
        create_metric(api, pid, key=f"{key}_conversion", event_name="purchase"),
        create_metric(api, pid, key=f"{key}_revenue", type="sum", event_name="purchase"),
        create_metric(api, pid, key=f"{key}_plan", type="categorical", event_name="plan_chosen",
                      value_property="plan"),
        create_metric(api, pid, key=f"{key}_errors", type="count", event_name="error",
                      lower_is_better=True),
    ]  # fmt: skip
    body = {
        "project_id": pid, "key": key, "name": name,
        "hypothesis": 'Blue buttons sell more <img src=x onerror="alert(1)">',
        "variants": [{"key": v, "weight": w, "params": {"colour": v}}
                     for v, w in zip(VARIANTS, (34, 33, 33), strict=True)],
        "metrics": {"primary": [metrics[0]["id"]],
                    "secondary": [metrics[1]["id"], metrics[2]["id"]],
                    "guardrail": [metrics[3]["id"]]},
        "analysis": analysis or {"method": "frequentist", "cuped": False, "correction": "holm"},
    }  # fmt: skip
    experiment = act(api, post(api, "/experiments", body)["id"], "start")
    rng = random.Random(seed)
    base = day_start(4)
    events: list[Json] = []
    for arm, variant in enumerate(VARIANTS):
        for i in range(units):
            unit = f"{key}-{variant}-{i}"
            at = base + timedelta(days=i % 3, minutes=arm)
            events.append({"type": "exposure", "experiment": key, "variant": variant,
                           "unit_id": unit, "timestamp": iso(at)})  # fmt: skip
            if rng.random() < 0.2 + 0.05 * arm:
                events.append({"type": "metric", "event_name": "purchase", "unit_id": unit,
                               "value": round(rng.uniform(5, 50), 2),
                               "timestamp": iso(at + timedelta(hours=1))})  # fmt: skip
            plan = rng.choices(PLANS, weights=(5, 3 + arm, 1))[0]
            events.append({"type": "metric", "event_name": "plan_chosen", "unit_id": unit,
                           "properties": {"plan": plan},
                           "timestamp": iso(at + timedelta(hours=2))})  # fmt: skip
            for _ in range(rng.randrange(3)):
                events.append({"type": "metric", "event_name": "error", "unit_id": unit,
                               "timestamp": iso(at + timedelta(hours=3))})  # fmt: skip
    send(api, pid, events)
    return World(api, pid, experiment)


@pytest.fixture
def world(api: ApiClient) -> World:
    return make_world(api)
