"""Adjusted results over HTTP on every event store (DuckDB, ClickHouse through chdb,
PostgreSQL when ``AVSB_TEST_EVENTS_PG_URL`` is set): post-stratification, CUPED only with
covariates every arm has, CUPED on a ratio metric, and the power so far.

Each experiment is generated here with numpy, sent as events, read back through
``GET .../results`` and checked against an independent computation on the same units:
``/api/tools/analyze`` on sums computed here, or numpy/scipy on the unit values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

from tests.integration.design.factories import act, create_metric, create_project, post
from tests.support.servers import ApiClient, ServerFactory, new_org_client

from .conftest import server_on
from .simulation import day_start, iso

Json = dict[str, Any]
BACKENDS = ("duckdb", "clickhouse", "postgres")
DAYS = 4  # exposures on each of the last DAYS days
STRATA = {"desktop": (50.0, 0.3), "mobile": (5.0, 0.5), "tablet": (20.0, 0.2)}  # mean, share


@dataclass
class Sent:
    """One simulated experiment: its events and its units' values, by variant."""

    prefix: str
    events: list[Json] = field(default_factory=list)
    units: list[Json] = field(default_factory=list)  # {"variant", "stratum", "y", ...}

    def add(self, kind: str, **body: Any) -> None:
        self.events.append({"type": kind, "event_id": f"{self.prefix}-{len(self.events)}", **body})

    def exposure_time(self, i: int) -> Any:
        return day_start(DAYS - i % DAYS) + timedelta(hours=12)

    def expose(self, i: int, unit: str, variant: str) -> Any:
        at = self.exposure_time(i)
        if variant == "__holdout__":
            self.add("holdout", experiment=self.prefix, unit_id=unit, timestamp=iso(at))
        else:
            self.add(
                "exposure", experiment=self.prefix, variant=variant, unit_id=unit, timestamp=iso(at)
            )
        return at

    def metric(self, name: str, unit: str, at: Any, value: float | None = None) -> None:
        body: Json = {"event_name": name, "unit_id": unit, "timestamp": iso(at)}
        if value is not None:
            body["value"] = value
        self.add("metric", **body)


def _variant(rng: np.random.Generator, holdout: float = 0.0) -> str:
    if rng.random() < holdout:
        return "__holdout__"
    return "control" if rng.random() < 0.5 else "treatment"


def stratified_experiment(units: int = 1_600, seed: int = 5) -> Sent:
    """Revenue driven by the unit's stratum, with a covariate that predicts it within."""
    rng = np.random.default_rng(seed)
    sent = Sent("strat")
    names = list(STRATA)
    shares = [STRATA[s][1] for s in names]
    for i in range(units):
        unit = f"s{i}"
        variant = _variant(rng)
        stratum = names[rng.choice(len(names), p=shares)]
        habit = rng.normal(0, 2)
        y = STRATA[stratum][0] + habit + rng.normal(0, 1) + (1.0 if variant == "treatment" else 0)
        x = habit + rng.normal(0, 0.5)
        at = sent.expose(i, unit, variant)
        sent.add("stratum", experiment=sent.prefix, unit_id=unit, stratum=stratum)
        sent.add("covariate", experiment=sent.prefix, unit_id=unit, value=float(x))
        sent.metric("strat_spend", unit, at + timedelta(hours=1), float(y))
        sent.units.append({"variant": variant, "stratum": stratum, "y": float(y), "x": float(x)})
    return sent


def holdout_experiment(units: int = 2_400, seed: int = 6) -> Sent:
    """Covariates for exposed units only; the treatment is +19% over control and holdout."""
    rng = np.random.default_rng(seed)
    sent = Sent("hold")
    for i in range(units):
        unit = f"h{i}"
        variant = _variant(rng, holdout=0.3)
        x = rng.normal(100, 20)
        y = (0.5 * x + rng.normal(0, 3)) * (1.19 if variant == "treatment" else 1.0)
        at = sent.expose(i, unit, variant)
        if variant != "__holdout__":
            sent.add("covariate", experiment=sent.prefix, unit_id=unit, value=float(x))
        sent.metric("hold_spend", unit, at + timedelta(hours=1), float(y))
        sent.units.append({"variant": variant, "y": float(y), "x": float(x)})
    return sent


def ratio_experiment(units: int = 1_200, seed: int = 7) -> Sent:
    """Revenue per session; a unit's habit drives its sessions and spend before and after."""
    rng = np.random.default_rng(seed)
    sent = Sent("ratio")
    for i in range(units):
        unit = f"r{i}"
        variant = _variant(rng)
        habit = rng.gamma(2.0, 1.5)
        lift = 1.05 if variant == "treatment" else 1.0
        row: Json = {"variant": variant}
        at = sent.expose(i, unit, variant)
        for period, when, scale in (("pre", at - timedelta(hours=6), 1.0), ("post", at, lift)):
            sessions = int(rng.poisson(habit)) + 1
            spend = sessions * (3 + habit) * scale + rng.normal(0, 1)
            for k in range(sessions):
                sent.metric("ratio_session", unit, when + timedelta(minutes=k + 1))
            sent.metric("ratio_spend", unit, when + timedelta(minutes=30), float(spend))
            row[f"{period}_num"], row[f"{period}_den"] = float(spend), float(sessions)
        sent.units.append(row)
    return sent


def power_experiment(units: int = 800, seed: int = 8) -> Sent:
    rng = np.random.default_rng(seed)
    sent = Sent("power")
    for i in range(units):
        unit = f"p{i}"
        variant = _variant(rng)
        y = rng.normal(10, 4) * (1.01 if variant == "treatment" else 1.0)
        at = sent.expose(i, unit, variant)
        sent.metric("power_spend", unit, at + timedelta(hours=1), float(y))
        sent.units.append({"variant": variant, "y": float(y)})
    return sent


@dataclass
class World:
    api: ApiClient
    experiments: dict[str, Json]
    metrics: dict[str, Json]
    sent: dict[str, Sent]


def _experiment(api: ApiClient, project_id: str, key: str, metric: Json, **analysis: Any) -> Json:
    body = {
        "project_id": project_id,
        "key": key,
        "name": key,
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "metrics": {"primary": [metric["id"]]},
        "analysis": {"method": "frequentist", "correction": "none", **analysis},
    }
    return act(api, post(api, "/experiments", body)["id"], "start")


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"adjust-{request.param}")
    with server_on(servers, str(request.param), Path(tmp)) as live, new_org_client(live) as api:
        pid = create_project(api)["id"]
        sum_metric = {"type": "sum", "window_hours": 168}
        metrics = {
            "strat": create_metric(api, pid, key="strat", event_name="strat_spend", **sum_metric),
            "hold": create_metric(api, pid, key="hold", event_name="hold_spend", **sum_metric),
            "power": create_metric(api, pid, key="power", event_name="power_spend", **sum_metric),
            "ratio": create_metric(
                api,
                pid,
                key="ratio",
                type="ratio",
                event_name="ratio_spend",
                denominator_event_name="ratio_session",
                window_hours=12,
            ),
        }
        sent = {
            "strat": stratified_experiment(),
            "hold": holdout_experiment(),
            "ratio": ratio_experiment(),
            "power": power_experiment(),
        }
        experiments = {
            "strat": _experiment(api, pid, "strat", metrics["strat"], cuped=False),
            "hold": _experiment(api, pid, "hold", metrics["hold"], cuped=True),
            "ratio": _experiment(api, pid, "ratio", metrics["ratio"], cuped=True),
            "power": _experiment(
                api,
                pid,
                "power",
                metrics["power"],
                cuped=False,
                mde_pct=5.0,
                planned_sample_size=2_000,
            ),
        }
        for simulated in sent.values():
            for start in range(0, len(simulated.events), 5_000):
                batch = simulated.events[start : start + 5_000]
                r = api.post(api.org(f"/projects/{pid}/events"), json={"events": batch})
                assert r.status_code == 200, r.text
                assert r.json()["data"]["rejected"] == []
        yield World(api, experiments, metrics, sent)


def _get(world: World, path: str) -> Json:
    r = world.api.get(world.api.org(path))
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def _results(world: World, name: str) -> Json:
    return _get(world, f"/experiments/{world.experiments[name]['id']}/results")


def _analyze(world: World, body: Json) -> Json:
    r = world.api.post("/api/tools/analyze", json={"correction": "none", **body})
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def _sums(rows: list[Json], key: str = "y", covariate: str | None = None) -> Json:
    y = np.array([r[key] for r in rows])
    out: Json = {"n": len(rows), "sum": float(y.sum()), "sum_squares": float((y * y).sum())}
    if covariate is not None:
        x = np.array([r[covariate] for r in rows])
        out |= {
            "covariate_sum": float(x.sum()),
            "covariate_sum_squares": float((x * x).sum()),
            "cross_sum": float((x * y).sum()),
        }
    return out


def _arms(sent: Sent, **kw: Any) -> list[Json]:
    return [
        {"key": v, **_sums([u for u in sent.units if u["variant"] == v], **kw)}
        for v in ("control", "treatment")
    ]


def _strata(sent: Sent, **kw: Any) -> list[Json]:
    def cell(variant: str, stratum: str) -> Json:
        rows = [u for u in sent.units if (u["variant"], u["stratum"]) == (variant, stratum)]
        return {"key": variant, **_sums(rows, **kw)}

    return [
        {"key": s, "variants": [cell(v, s) for v in ("control", "treatment")]}
        for s in sorted(STRATA)
    ]


def _set_cuped(world: World, name: str, cuped: bool) -> None:
    path = world.api.org(f"/experiments/{world.experiments[name]['id']}")
    body = {"analysis": {"method": "frequentist", "correction": "none", "cuped": cuped}}
    r = world.api.patch(path, json=body)
    assert r.status_code == 200, r.text


class TestPostStratification:
    """Finding 5: stratum events were stored but the readout analysed one stratum."""

    def test_results__post_stratified_se_matches_the_tools_answer(self, world: World) -> None:
        sent = world.sent["strat"]
        stratified = _analyze(world, {"metric_type": "continuous", "strata": _strata(sent)})
        pooled = _analyze(world, {"metric_type": "continuous", "variants": _arms(sent)})

        (metric,) = _results(world, "strat")["metrics"]

        (cmp,) = metric["comparisons"]
        (expected,) = stratified["comparisons"]
        assert metric["adjustment"] == "post_stratification"
        assert metric["stratification"]["applied"] is True
        assert metric["stratification"]["cells"] == len(STRATA)
        assert cmp["standard_error"] == pytest.approx(expected["standard_error"], rel=1e-9)
        assert cmp["estimate"] == pytest.approx(expected["estimate"], rel=1e-9)
        # The finding: one stratum's (pooled) answer is several times wider.
        assert pooled["comparisons"][0]["standard_error"] > 3 * cmp["standard_error"]
        assert metric["stratification"]["variance_reduction"] > 0.8

    def test_timeseries__last_day_is_the_post_stratified_result(self, world: World) -> None:
        eid = world.experiments["strat"]["id"]
        (series,) = _get(world, f"/experiments/{eid}/results/timeseries")["metrics"]
        (metric,) = _results(world, "strat")["metrics"]

        last = series["points"][-1]

        assert last["adjustment"] == "post_stratification"
        got = last["comparisons"][0]["standard_error"]
        assert got == pytest.approx(metric["comparisons"][0]["standard_error"], rel=1e-12)

    def test_cuped_with_strata__matches_the_tools_answer(self, world: World) -> None:
        sent = world.sent["strat"]
        body = {"metric_type": "continuous", "cuped": True, "strata": _strata(sent, covariate="x")}
        (expected,) = _analyze(world, body)["comparisons"]
        _set_cuped(world, "strat", True)
        try:
            (metric,) = _results(world, "strat")["metrics"]
        finally:
            _set_cuped(world, "strat", False)

        (cmp,) = metric["comparisons"]
        assert metric["adjustment"] == "cuped+post_stratification"
        assert metric["cuped"]["covariate"] == "ingested"
        assert cmp["standard_error"] == pytest.approx(expected["standard_error"], rel=1e-9)
        assert cmp["estimate"] == pytest.approx(expected["estimate"], rel=1e-9)
        assert metric["cuped"]["variance_reduction"] > 0.5


class TestHoldoutCovariates:
    """Finding 8: the holdout was CUPED-adjusted with covariates its units do not have."""

    def test_holdout__not_adjusted_with_covariates_it_lacks(self, world: World) -> None:
        sent = world.sent["hold"]
        holdout = [u for u in sent.units if u["variant"] == "__holdout__"]
        treated = [u for u in sent.units if u["variant"] == "treatment"]
        truth = np.mean([u["y"] for u in treated]) / np.mean([u["y"] for u in holdout]) - 1
        # The finding, reproduced on the same sums: the holdout's covariate read as 0.
        missing = [{**u, "x": 0.0} for u in holdout]
        wrong = _analyze(
            world,
            {
                "metric_type": "continuous",
                "cuped": True,
                "variants": [
                    {"key": "holdout", **_sums(missing, covariate="x")},
                    {"key": "treated", **_sums(treated, covariate="x")},
                ],
            },
        )["comparisons"][0]
        plain = _analyze(
            world,
            {
                "metric_type": "continuous",
                "variants": [
                    {"key": "holdout", **_sums(holdout)},
                    {"key": "treated", **_sums(treated)},
                ],
            },
        )["comparisons"][0]

        data = _results(world, "hold")
        (found,) = data["holdout"]["metrics"]

        assert wrong["estimate"] < -0.3 < 0.1 < truth
        assert found["cuped"]["applied"] is False
        assert "every arm" in found["cuped"]["reason"]
        assert found["adjustment"] == "none"
        low, high = found["comparison"]["ci"]
        assert low < truth < high
        assert found["comparison"]["estimate"] == pytest.approx(plain["estimate"], rel=1e-9)
        assert found["comparison"]["standard_error"] == pytest.approx(
            plain["standard_error"], rel=1e-9
        )

    def test_variants__still_adjusted_with_the_covariate_both_have(self, world: World) -> None:
        (metric,) = _results(world, "hold")["metrics"]

        assert metric["cuped"]["applied"] is True
        assert metric["cuped"]["covariate"] == "ingested"
        assert metric["cuped"]["reason"] is None
        assert metric["cuped"]["variance_reduction"] > 0.8


def _linearised(rows: list[Json], period: str) -> tuple[np.ndarray, float]:
    num = np.array([r[f"{period}_num"] for r in rows])
    den = np.array([r[f"{period}_den"] for r in rows])
    ratio = num.sum() / den.sum()
    return (num - ratio * den) / den.mean(), float(ratio)


class TestRatioCuped:
    def test_ratio_metric__adjusted_by_its_pre_period_as_numpy_computes(self, world: World) -> None:
        sent = world.sent["ratio"]
        arms = [[u for u in sent.units if u["variant"] == v] for v in ("control", "treatment")]
        lin = [(_linearised(rows, "post"), _linearised(rows, "pre")) for rows in arms]
        covs = [np.cov(y, x) for (y, _), (x, _) in lin]
        ns = [len(rows) for rows in arms]
        theta = sum((n - 1) * c[0, 1] for n, c in zip(ns, covs, strict=True)) / sum(
            (n - 1) * c[1, 1] for n, c in zip(ns, covs, strict=True)
        )
        pre = [u for rows in arms for u in rows]
        centre = sum(u["pre_num"] for u in pre) / sum(u["pre_den"] for u in pre)

        (metric,) = _results(world, "ratio")["metrics"]

        assert metric["adjustment"] == "cuped", metric["cuped"]
        assert metric["cuped"]["covariate"] == "pre_period"
        for got, ((y, ratio), (x, ratio0)) in zip(metric["variants"], lin, strict=True):
            adjusted = y - theta * x
            se = math.sqrt(np.var(adjusted, ddof=1) / len(y))
            plain = math.sqrt(np.var(y, ddof=1) / len(y))
            assert got["standard_error"] == pytest.approx(se, rel=1e-6)
            assert got["adjusted_mean"] == pytest.approx(ratio - theta * (ratio0 - centre))
            assert got["standard_error"] < 0.8 * plain
        plain_cmp = _analyze(
            world,
            {
                "metric_type": "ratio",
                "variants": [
                    {
                        "key": key,
                        "n": len(rows),
                        "numerator_sum": sum(u["post_num"] for u in rows),
                        "numerator_sum_squares": sum(u["post_num"] ** 2 for u in rows),
                        "denominator_sum": sum(u["post_den"] for u in rows),
                        "denominator_sum_squares": sum(u["post_den"] ** 2 for u in rows),
                        "numerator_denominator_cross_sum": sum(
                            u["post_num"] * u["post_den"] for u in rows
                        ),
                    }
                    for key, rows in zip(("control", "treatment"), arms, strict=True)
                ],
            },
        )["comparisons"][0]
        assert metric["comparisons"][0]["standard_error"] < plain_cmp["standard_error"]


def _power(lam: float, alpha: float) -> float:
    z = sps.norm.ppf(1 - alpha / 2)
    return float(sps.norm.cdf(lam - z) + sps.norm.cdf(-lam - z))


class TestPowerSoFar:
    def test_power_and_days__as_scipy_computes_them(self, world: World) -> None:
        sent = world.sent["power"]
        ys = [
            np.array([u["y"] for u in sent.units if u["variant"] == v])
            for v in ("control", "treatment")
        ]
        se = math.sqrt(sum(np.var(y, ddof=1) / len(y) for y in ys))
        lam = 0.05 * ys[0].mean() / se
        lam_target = optimize.brentq(lambda v: _power(v, 0.05) - 0.8, 0.0, 10.0, xtol=1e-12)
        units = sum(len(y) for y in ys)
        required = math.ceil(units * (lam_target / lam) ** 2)
        per_day = units / DAYS

        (metric,) = _results(world, "power")["metrics"]

        (found,) = metric["power"]
        assert found["variant"] == "treatment"
        assert found["mde_source"] == "plan"
        assert found["power"] == pytest.approx(_power(lam, 0.05), rel=1e-9)
        assert found["power"] < 0.8
        assert abs(found["required_units"] - required) <= 1
        assert found["daily_units"] == pytest.approx(per_day)
        assert found["remaining_days"] == pytest.approx((required - units) / per_day, abs=0.01)

    def test_decision__keep_running_says_how_long(self, world: World) -> None:
        eid = world.experiments["power"]["id"]
        (metric,) = _results(world, "power")["metrics"]

        decision = _get(world, f"/experiments/{eid}/decision")

        assert decision["decision"] == "keep_running"
        (reason,) = [r for r in decision["reasons"] if r["code"] == "underpowered"]
        assert reason["variant"] == "treatment"
        assert reason["metric"] == "power"
        assert reason["message"] == metric["power"][0]["message"]
        assert "days" in reason["message"]
