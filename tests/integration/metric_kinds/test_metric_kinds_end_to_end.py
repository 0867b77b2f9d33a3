"""Quantile, categorical, rank-test and bootstrap metrics end to end: metrics and an
experiment created over HTTP, events ingested through POST .../events, then GET .../results
compared with numpy / scipy on the same per-unit data, on each event store (DuckDB, ClickHouse
through chdb, PostgreSQL when AVSB_TEST_EVENTS_PG_URL is set) and the metadata database the
run uses (SQLite, or PostgreSQL with AVSB_TEST_DATABASE_URL)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats as sps

from tests.integration.design.factories import act, create_metric, create_project, post
from tests.integration.results.simulation import iso
from tests.support.event_backends import _pg_schema
from tests.support.servers import ApiClient, ServerFactory, new_org_client

Json = dict[str, Any]
Vector = npt.NDArray[np.float64]
BACKENDS = ("duckdb", "clickhouse", "postgres")
VARIANTS = ("control", "treatment")
PLANS = ("free", "pro", "team")
UNITS = 240  # per variant
Z = 1.959963984540054


@dataclass
class Data:
    """The events and, per variant, the per-unit values worked out here."""

    events: list[Json] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=dict)
    spend: dict[str, list[float]] = field(default_factory=dict)
    plan: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, **body: Any) -> None:
        self.events.append({"type": kind, "event_id": f"k-{len(self.events)}", **body})


def simulate(seed: int = 17) -> Data:
    rng = np.random.default_rng(seed)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    data = Data()
    for v, variant in enumerate(VARIANTS):
        latencies, spends, plans = [], [], []
        for i in range(UNITS):
            unit, at = f"{variant[0]}{i}", base + timedelta(seconds=10 * i + v)
            data.add("exposure", experiment="kinds", variant=variant, unit_id=unit,
                     timestamp=iso(at))  # fmt: skip
            latency = round(float(rng.lognormal(3.0 - 0.15 * v, 0.5)), 1)
            data.add("metric", event_name="page_load", unit_id=unit, value=latency,
                     timestamp=iso(at + timedelta(minutes=5)))  # fmt: skip
            latencies.append(latency)
            total = 0.0
            for k in range(int(rng.random() < 0.6) * int(rng.integers(1, 3))):
                value = float(round(rng.lognormal(2.0 + 0.3 * v, 1.0)))  # ties: whole dollars
                data.add("metric", event_name="spend", unit_id=unit, value=value,
                         timestamp=iso(at + timedelta(hours=1 + k)))  # fmt: skip
                total += value
            spends.append(total)
            # a plan chosen before the exposure never counts
            if i % 10 == 0:
                before = iso(at - timedelta(hours=1))
                data.add("metric", event_name="plan_chosen", unit_id=unit,
                         properties={"plan": "team"}, timestamp=before)  # fmt: skip
            chosen = "(none)"
            if rng.random() < 0.7:
                shares = [0.5, 0.3, 0.2] if v == 0 else [0.35, 0.4, 0.25]
                chosen = str(rng.choice(PLANS, p=shares))
                first, later = iso(at + timedelta(hours=2)), iso(at + timedelta(hours=3))
                data.add("metric", event_name="plan_chosen", unit_id=unit,
                         properties={"plan": chosen}, timestamp=first)  # fmt: skip
                data.add("metric", event_name="plan_chosen", unit_id=unit,  # a later change
                         properties={"plan": "free"}, timestamp=later)  # fmt: skip
            plans.append(chosen)
        data.latency[variant], data.spend[variant], data.plan[variant] = latencies, spends, plans
    return data


@dataclass
class World:
    api: ApiClient
    experiment: Json
    data: Data


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    backend = str(request.param)
    tmp = Path(tmp_path_factory.mktemp(f"kinds-{backend}"))
    with _events_url(backend, tmp) as url:
        live = servers.start(events_url=url)
        try:
            with new_org_client(live) as api:
                yield _world(api)
        finally:
            live.stop()


class _events_url:  # noqa: N801 - a context manager used like a function
    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend, self.tmp = backend, tmp
        self._pg: Any = None

    def __enter__(self) -> str:
        if self.backend == "postgres":
            self._pg = _pg_schema()
            return str(self._pg.__enter__())
        if self.backend == "duckdb":
            return str(self.tmp / "events.duckdb")
        return f"chdb://{self.tmp / 'ch'}"

    def __exit__(self, *exc: object) -> None:
        if self._pg is not None:
            self._pg.__exit__(*exc)


def _world(api: ApiClient) -> World:
    pid = create_project(api)["id"]
    metrics = [
        create_metric(api, pid, key="latency_p50", type="quantile", quantile=0.5,
                      event_name="page_load", lower_is_better=True),
        create_metric(api, pid, key="spend_p90", type="quantile", quantile=0.9,
                      event_name="spend"),
        create_metric(api, pid, key="revenue", type="sum", event_name="spend",
                      test="mann_whitney", interval="bootstrap"),
        create_metric(api, pid, key="plan", type="categorical", event_name="plan_chosen",
                      value_property="plan", window_hours=24),
    ]  # fmt: skip
    body = {
        "project_id": pid, "key": "kinds", "name": "kinds",
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "metrics": {"primary": [metrics[2]["id"]], "secondary": [m["id"] for m in metrics[:2]],
                    "guardrail": [metrics[3]["id"]]},
        "analysis": {"method": "frequentist", "cuped": True, "correction": "holm"},
    }  # fmt: skip
    experiment = act(api, post(api, "/experiments", body)["id"], "start")
    data = simulate()
    for start in range(0, len(data.events), 2000):
        batch = data.events[start : start + 2000]
        r = api.post(api.org(f"/projects/{pid}/events"), json={"events": batch})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["rejected"] == []
    return World(api, experiment, data)


def results(world: World) -> Json:
    r = world.api.get(world.api.org(f"/experiments/{world.experiment['id']}/results"))
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def metric(data: Json, key: str) -> Json:
    found: Json = next(m for m in data["metrics"] if m["key"] == key)
    return found


def order_statistics(values: list[float], p: float) -> tuple[float, float, float]:
    """numpy's quantile and the order statistics at n p -/+ z sqrt(n p (1 - p)) (+1 above)."""
    x = np.sort(np.asarray(values))
    n = x.size
    half = Z * math.sqrt(n * p * (1 - p))
    low, high = max(1, math.floor(n * p - half)), min(n, math.ceil(n * p + half + 1))
    return float(np.quantile(x, p)), float(x[low - 1]), float(x[high - 1])


class TestMetricKindsEndToEnd:
    @pytest.mark.parametrize(("key", "p", "source"), [("latency_p50", 0.5, "latency"),
                                                      ("spend_p90", 0.9, "spend")])  # fmt: skip
    def test_quantile__order_statistics_and_comparison(
        self, world: World, key: str, p: float, source: str
    ) -> None:
        found = metric(results(world), key)
        values = getattr(world.data, source)

        assert found["type"] == "quantile"
        assert found["kind"]["test"] == "quantile_normal"
        arms = found["kind"]["quantile"]["variants"]
        expected = [order_statistics(values[v], p) for v in VARIANTS]
        for arm, (q, low, high) in zip(arms, expected, strict=True):
            assert arm["quantile"] == pytest.approx(q)
            assert arm["ci"] == pytest.approx([low, high])
        (cmp,) = found["comparisons"]
        se = [(high - low) / (2 * Z) for _, low, high in expected]
        (qc, _, _), (qt, _, _) = expected
        rel_se = math.sqrt(se[1] ** 2 / qc**2 + qt**2 * se[0] ** 2 / qc**4)
        assert cmp["test"] == "quantile_normal"
        assert cmp["estimate"] == pytest.approx(qt / qc - 1)
        assert cmp["standard_error"] == pytest.approx(rel_se)
        assert cmp["p_value"] == pytest.approx(2 * sps.norm.sf(abs(qt / qc - 1) / rel_se))
        assert found["correction"] is None  # outside the Welch families

    def test_rank_test__p_value_of_scipy_mannwhitneyu(self, world: World) -> None:
        found = metric(results(world), "revenue")
        control, treatment = (np.asarray(world.data.spend[v]) for v in VARIANTS)

        theirs = sps.mannwhitneyu(treatment, control, method="asymptotic")
        (cmp,) = found["comparisons"]
        assert cmp["test"] == "mann_whitney"
        assert cmp["p_value"] == pytest.approx(theirs.pvalue, rel=1e-6)
        (rank,) = found["kind"]["rank_tests"]
        assert rank["u_statistic"] == pytest.approx(theirs.statistic)
        assert found["variants"][0]["n"] == UNITS
        assert found["variants"][1]["sum"] == pytest.approx(treatment.sum())
        assert found["cuped"]["applied"] is False

    def test_bootstrap__interval_close_to_scipy_bca(self, world: World) -> None:
        found = metric(results(world), "revenue")
        control, treatment = (np.asarray(world.data.spend[v]) for v in VARIANTS)

        def lift(t: Vector, c: Vector, axis: int = -1) -> Vector:
            return np.asarray(np.mean(t, axis=axis) / np.mean(c, axis=axis) - 1)

        theirs = sps.bootstrap((treatment, control), lift, n_resamples=5000, method="BCa",
                               rng=np.random.default_rng(0))  # fmt: skip
        (cmp,) = found["comparisons"]
        (boot,) = found["kind"]["bootstrap"]
        se = theirs.standard_error
        assert found["kind"]["interval"] == "bootstrap_bca"
        assert cmp["estimate"] == pytest.approx(treatment.mean() / control.mean() - 1)
        assert cmp["ci"] == pytest.approx(boot["ci"])
        assert boot["resamples"] == 500
        assert boot["standard_error"] == pytest.approx(se, rel=0.2)
        assert boot["ci"][0] == pytest.approx(theirs.confidence_interval.low, abs=0.35 * se)
        assert boot["ci"][1] == pytest.approx(theirs.confidence_interval.high, abs=0.35 * se)

    def test_categorical__first_plan_in_window_and_chi_square(self, world: World) -> None:
        found = metric(results(world), "plan")
        section = found["kind"]["categorical"]

        names = sorted({*PLANS, "(none)"})
        table = [[world.data.plan[v].count(name) for name in names] for v in VARIANTS]
        chi2, p, dof, _ = sps.chi2_contingency(table, correction=False)
        assert section["categories"] == names
        assert [v["counts"] for v in section["variants"]] == table
        assert section["chi_square"]["chi2"] == pytest.approx(chi2)
        assert section["chi_square"]["p_value"] == pytest.approx(p)
        assert section["chi_square"]["df"] == dof
        pro = next(x for x in section["comparisons"][0]["lifts"] if x["category"] == "pro")
        assert pro["difference"] == pytest.approx(table[1][2] / UNITS - table[0][2] / UNITS)
        assert found["comparisons"] == []
        assert found["error"]["code"] == "categorical"

    def test_timeseries__no_mean_series_for_quantile_and_categorical(self, world: World) -> None:
        r = world.api.get(
            world.api.org(f"/experiments/{world.experiment['id']}/results/timeseries")
        )
        assert r.status_code == 200, r.text
        points = {m["key"]: m["points"] for m in r.json()["data"]["metrics"]}
        assert points["latency_p50"] == []
        assert points["plan"] == []
        assert points["revenue"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "quantile", "event_name": "e"}, "quantile"),
        ({"type": "sum", "event_name": "e", "quantile": 0.5}, "quantile"),
        ({"type": "quantile", "event_name": "e", "quantile": 1.0}, "quantile"),
        ({"type": "categorical", "event_name": "e"}, "value_property"),
        ({"type": "binary", "event_name": "e", "test": "mann_whitney"}, "test"),
        ({"type": "ratio", "event_name": "e", "denominator_event_name": "d",
          "interval": "bootstrap"}, "interval"),
        ({"type": "sum", "event_name": "e", "test": "sign"}, "test"),
        ({"type": "quantile", "event_name": "e", "quantile": 0.5, "winsorize_percentile": 99},
         "winsorize_percentile"),
    ],
)  # fmt: skip
def test_metric_definition__bad_kind_options_422(api: ApiClient, body: Json, field: str) -> None:
    pid = create_project(api)["id"]
    r = api.post(api.org("/metrics"), json={"project_id": pid, "key": "m", "name": "m", **body})
    assert r.status_code == 422, r.text
    assert field in [f["path"] for f in r.json()["error"]["details"]["fields"]]


def test_metric_definition__patch_keeps_rules(api: ApiClient) -> None:
    pid = create_project(api)["id"]
    created = create_metric(api, pid, type="sum", event_name="spend", test="mann_whitney")
    assert created["test"] == "mann_whitney"
    assert created["interval"] == "normal"
    assert created["quantile"] is None
    path = api.org(f"/metrics/{created['id']}")
    r = api.patch(path, json={"type": "binary"})
    assert r.status_code == 422, r.text
    r = api.patch(path, json={"type": "quantile", "quantile": 0.75, "test": "welch"})
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["type"], r.json()["data"]["quantile"]) == ("quantile", 0.75)
