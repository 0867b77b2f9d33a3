"""The results routes on small, hand-made data: slices, series, history, webhooks, holdout,
health checks, decision and bad input."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.design.factories import (
    act,
    create_metric,
    create_project,
    create_segment,
    post,
)
from tests.support.servers import ApiClient, new_org_client

from .simulation import day_start, iso

Json = dict[str, Any]
Emitted = list[tuple[str, dict[str, Any]]]


@dataclass
class Lab:
    api: ApiClient
    project_id: str
    experiment: Json
    conversion: Json
    guardrail: Json

    def path(self, suffix: str = "") -> str:
        return self.api.org(f"/experiments/{self.experiment['id']}{suffix}")

    def send(self, events: list[Json]) -> Json:
        r = self.api.post(
            self.api.org(f"/projects/{self.project_id}/events"), json={"events": events}
        )
        assert r.status_code == 200, r.text
        data: Json = r.json()["data"]
        assert not data["rejected"], data
        return data

    def results(self, **params: str) -> Json:
        r = self.api.get(self.path("/results"), params=params)
        assert r.status_code == 200, r.text
        data: Json = r.json()["data"]
        return data


def population(key: str, per_arm: int, rates: tuple[float, float], days: int = 4) -> list[Json]:
    """Exposures over ``days`` days and conversions at the given rate per arm (every
    n-th unit converts, so counts are exact)."""
    events: list[Json] = []
    base = day_start(days + 1)
    for arm, (variant, rate) in enumerate(zip(("control", "treatment"), rates, strict=True)):
        every = round(1 / rate) if rate else 0
        for i in range(per_arm):
            unit = f"{variant[0]}{i}"
            at = base + timedelta(days=i % days, minutes=arm)
            platform = "ios" if i % 4 == 0 else "web"
            events.append({"type": "exposure", "experiment": key, "variant": variant,
                           "unit_id": unit, "timestamp": iso(at),
                           "attributes": {"platform": platform}})  # fmt: skip
            if every and i % every == 0:
                events.append({"type": "metric", "event_name": "purchase", "unit_id": unit,
                               "timestamp": iso(at + timedelta(hours=1))})  # fmt: skip
    return events


def make_lab(api: ApiClient, analysis: Json | None = None, holdout: bool = False) -> Lab:
    project = create_project(api)
    pid = project["id"]
    conversion = create_metric(api, pid, key="conversion", event_name="purchase")
    guardrail = create_metric(api, pid, key="errors", event_name="error", type="count",
                              lower_is_better=True)  # fmt: skip
    body = {
        "project_id": pid,
        "key": "exp",
        "name": "Exp",
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "metrics": {"primary": [conversion["id"]], "guardrail": [guardrail["id"]]},
        "analysis": analysis or {"method": "frequentist"},
    }
    experiment = act(api, post(api, "/experiments", body)["id"], "start")
    return Lab(api, pid, experiment, conversion, guardrail)


@pytest.fixture
def lab(api: ApiClient) -> Lab:
    return make_lab(api)


def conversion_of(data: Json) -> Json:
    found: Json = next(m for m in data["metrics"] if m["key"] == "conversion")
    return found


def units(metric: Json) -> dict[str, int]:
    return {v["key"]: v["n"] for v in metric["variants"]}


class TestSlices:
    def test_attribute_slice__only_matching_units(self, lab: Lab) -> None:
        lab.send(population("exp", 200, (0.1, 0.2)))

        ios = conversion_of(lab.results(segment="platform=ios"))

        assert units(ios) == {"control": 50, "treatment": 50}
        assert lab.results(segment="platform=ios")["segment"] == "platform=ios"

    def test_id_segment__only_its_members(self, lab: Lab) -> None:
        lab.send(population("exp", 200, (0.1, 0.2)))
        members = [f"c{i}" for i in range(30)] + [f"t{i}" for i in range(20)] + ["never"]
        segment = create_segment(lab.api, lab.project_id, unit_ids=members)

        sliced = conversion_of(lab.results(segment=segment["id"]))

        assert units(sliced) == {"control": 30, "treatment": 20}

    def test_condition_segment__eq_on_an_attribute(self, lab: Lab) -> None:
        lab.send(population("exp", 200, (0.1, 0.2)))
        condition = {"attribute": "platform", "operator": "eq", "value": "web"}
        segment = create_segment(lab.api, lab.project_id, type="conditions",
                                 unit_ids=None, conditions=condition)  # fmt: skip

        assert units(conversion_of(lab.results(segment=segment["id"]))) == {
            "control": 150,
            "treatment": 150,
        }

    @pytest.mark.parametrize("segment", ["platform", "=web", "bad key=1", "seg_nope"])
    def test_bad_slice__422(self, lab: Lab, segment: str) -> None:
        r = lab.api.get(lab.path("/results"), params={"segment": segment})
        assert r.status_code == 422, r.text

    def test_regex_condition_segment__422(self, lab: Lab) -> None:
        condition = {"attribute": "platform", "operator": "regex", "value": "^w"}
        segment = create_segment(lab.api, lab.project_id, type="conditions",
                                 unit_ids=None, conditions=condition)  # fmt: skip
        r = lab.api.get(lab.path("/results"), params={"segment": segment["id"]})
        assert r.status_code == 422
        assert r.json()["error"]["details"]["fields"][0]["path"] == "segment"


class TestSeriesAndHistory:
    def test_timeseries__cumulative_by_day_ends_at_the_totals(self, lab: Lab) -> None:
        lab.send(population("exp", 200, (0.1, 0.2), days=4))

        r = lab.api.get(lab.path("/results/timeseries"))
        series = next(m for m in r.json()["data"]["metrics"] if m["key"] == "conversion")

        points = series["points"]
        assert len(points) == 4
        totals = [sum(v["n"] for v in p["variants"]) for p in points]
        assert totals == [100, 200, 300, 400]
        assert points[-1]["comparisons"][0]["ci"] is not None
        assert units(conversion_of(lab.results())) == {
            v["key"]: v["n"] for v in points[-1]["variants"]
        }

    def test_history__a_snapshot_per_change(self, lab: Lab) -> None:
        lab.send(population("exp", 100, (0.1, 0.2)))
        lab.results()
        lab.results()  # unchanged: no new snapshot
        lab.send([{"type": "exposure", "experiment": "exp", "variant": "control",
                   "unit_id": "late", "timestamp": iso(day_start(1))}])  # fmt: skip
        lab.results()
        lab.results(segment="platform=ios")

        history = lab.api.get(lab.path("/results/history")).json()
        sliced = lab.api.get(lab.path("/results/history"), params={"segment": "platform=ios"})

        assert [h["results"]["health"]["assigned_units"] for h in history["data"]] == [200, 201]
        assert len(sliced.json()["data"]) == 1


class TestWebhooks:
    def test_srm_detected__emitted_once(self, lab: Lab, emitted: Emitted) -> None:
        events = population("exp", 400, (0.1, 0.1))
        lab.send([e for e in events if not str(e["unit_id"]).startswith("t1")])

        assert lab.results()["srm"]["srm_detected"] is True
        lab.results()

        kinds = [kind for kind, _ in emitted]
        assert kinds.count("srm.detected") == 1
        data = next(d for kind, d in emitted if kind == "srm.detected")
        assert data["experiment_id"] == lab.experiment["id"]

    def test_results_significant__emitted_when_it_becomes_so(
        self, lab: Lab, emitted: Emitted
    ) -> None:
        lab.send(population("exp", 100, (0.1, 0.1)))
        lab.results()
        assert "results.significant" not in [kind for kind, _ in emitted]

        more = population("exp", 2000, (0.1, 0.3))
        lab.send(more)
        lab.results()
        lab.results()

        significant = [d for kind, d in emitted if kind == "results.significant"]
        assert len(significant) == 1
        (comparison,) = significant[0]["comparisons"]
        assert comparison["metric_id"] == lab.conversion["id"]
        assert comparison["variant"] == "treatment"


class TestHealthAndHoldout:
    def test_health__multi_variant_exclusions_late_events(self, lab: Lab) -> None:
        now = datetime.now(UTC)
        events = population("exp", 100, (0.1, 0.2))
        events += [
            {"type": "exposure", "experiment": "exp", "variant": "treatment", "unit_id": "c1",
             "timestamp": iso(now)},
            {"type": "exclusion", "unit_id": "c2", "reason": "fraud", "timestamp": iso(now)},
            {"type": "metric", "event_name": "purchase", "unit_id": "t2", "timestamp": iso(now)},
        ]  # fmt: skip
        lab.send(events)

        health = lab.results()["health"]

        assert health["multiple_variant_units"]["count"] == 1
        assert health["exclusions"]["count"] == 1
        assert health["analysed_units"] == 198
        late = health["late_events"]
        assert late["count"] == late_total(events) - 2  # all but the two sent "now"
        assert late["status"] == "warning"

    def test_srm_diagnosis__names_the_attribute_value_out_of_line(self, lab: Lab) -> None:
        events = population("exp", 800, (0.1, 0.1))
        lost = {f"t{i}" for i in range(0, 800, 4)}  # every treated iOS unit went missing
        lab.send([e for e in events if e["unit_id"] not in lost])

        srm = lab.results()["health"]["srm"]

        assert srm["status"] == "error"
        worst = srm["diagnosis"]["by_attribute"]["platform"][0]
        assert worst["group"] == "ios"
        assert worst["observed"] == [200, 0]

    def test_holdout__pooled_treated_arms_against_the_holdout(self, lab: Lab) -> None:
        events = population("exp", 300, (0.1, 0.3))
        at = iso(day_start(3))
        for i in range(300):
            events.append({"type": "holdout", "experiment": "exp", "unit_id": f"h{i}",
                           "timestamp": at})  # fmt: skip
            if i % 10 == 0:
                events.append({"type": "metric", "event_name": "purchase",
                               "unit_id": f"h{i}", "timestamp": at})  # fmt: skip
        lab.send(events)

        data = lab.results()

        assert data["holdout"]["units"] == 300
        holdout = next(m for m in data["holdout"]["metrics"] if m["key"] == "conversion")
        assert holdout["holdout"]["n"] == 300
        assert holdout["treated"]["n"] == 300
        assert holdout["comparison"]["variant"] == "treated"
        assert holdout["comparison"]["significant"] is True
        assert units(conversion_of(data)) == {"control": 300, "treatment": 300}


def late_total(events: list[Json]) -> int:
    return sum(1 for e in events if e["type"] in ("exposure", "metric"))


class TestDecision:
    def decision(self, lab: Lab) -> Json:
        r = lab.api.get(lab.path("/decision"))
        assert r.status_code == 200, r.text
        data: Json = r.json()["data"]
        return data

    def test_decision__ship_a_clear_winner(self, lab: Lab) -> None:
        lab.send(population("exp", 1000, (0.1, 0.3)))

        found = self.decision(lab)

        assert found["decision"] == "ship"
        assert found["variant"] == "treatment"
        assert "primary_improved" in [r["code"] for r in found["reasons"]]

    def test_decision__guardrail_harm_blocks(self, lab: Lab) -> None:
        events = population("exp", 1000, (0.1, 0.3))
        at = iso(day_start(1))  # after every exposure, inside the metric window
        erring = [f"c{i}" for i in range(0, 1000, 10)] + [f"t{i}" for i in range(0, 1000, 2)]
        events += [{"type": "metric", "event_name": "error", "unit_id": unit, "timestamp": at}
                   for unit in erring]  # fmt: skip
        lab.send(events)

        found = self.decision(lab)

        assert found["decision"] == "no_ship"
        assert "guardrail_harmed" in [r["code"] for r in found["reasons"]]

    def test_decision__fixed_horizon_before_planned_size__keep_running(
        self, api: ApiClient
    ) -> None:
        lab = make_lab(api, {"method": "frequentist", "planned_sample_size": 50_000})
        lab.send(population("exp", 1000, (0.1, 0.3)))

        found = self.decision(lab)

        assert found["decision"] == "keep_running"
        assert "sample_size_not_reached" in [r["code"] for r in found["reasons"]]

    def test_sequential__tuning_parameter_from_the_plan(self, api: ApiClient) -> None:
        lab = make_lab(api, {"method": "sequential", "planned_sample_size": 4000})
        lab.send(population("exp", 200, (0.1, 0.2)))

        data = lab.results()

        assert data["method"] == "sequential"
        assert data["sequential_tuning_parameter"] == 8000


class TestBadInput:
    def test_no_data__metrics_explain_why(self, lab: Lab) -> None:
        data = lab.results()

        assert conversion_of(data)["error"]["code"] == "insufficient_data"
        assert data["srm"]["p_value"] is None
        assert self_decision(lab)["decision"] == "keep_running"

    def test_unknown_experiment__404(self, api: ApiClient) -> None:
        for suffix in ("/results", "/results/timeseries", "/results/history", "/decision"):
            r = api.get(api.org(f"/experiments/exp_nope{suffix}"))
            assert r.status_code == 404, suffix

    def test_token_without_results_scope__403(self, lab: Lab) -> None:
        with new_org_client(lab.api.server, scopes=["experiments:read"]) as other:
            r = other.get(other.org("/experiments/exp_x/results"))
        assert r.status_code == 403


def self_decision(lab: Lab) -> Json:
    data: Json = lab.api.get(lab.path("/decision")).json()["data"]
    return data
