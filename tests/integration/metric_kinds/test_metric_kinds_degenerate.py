"""Degenerate data never breaks a results answer: a metric kind that cannot be analysed
says why in its ``error``, and the other metrics are still there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.design.factories import act, create_metric, create_project, post
from tests.integration.results.simulation import iso
from tests.support.servers import ApiClient

Json = dict[str, Any]


def test_results__all_units_equal__metric_errors_not_500(events_api: ApiClient) -> None:
    api = events_api
    pid = create_project(api)["id"]
    metrics = [
        create_metric(api, pid, key="revenue", type="sum", event_name="spend",
                      test="mann_whitney", interval="bootstrap"),
        create_metric(api, pid, key="spend_p50", type="quantile", quantile=0.5,
                      event_name="spend"),
        create_metric(api, pid, key="plan", type="categorical", event_name="plan",
                      value_property="plan"),
        create_metric(api, pid, key="visits", type="count", event_name="visit"),
    ]  # fmt: skip
    body = {
        "project_id": pid, "key": "flat", "name": "flat",
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "metrics": {"primary": [metrics[0]["id"]], "secondary": [m["id"] for m in metrics[1:]]},
    }  # fmt: skip
    experiment = act(api, post(api, "/experiments", body)["id"], "start")
    at = datetime.now(UTC) - timedelta(days=1)
    events: list[Json] = []
    for i in range(40):  # nobody spends or picks a plan; visits vary
        variant = ("control", "treatment")[i % 2]
        events.append({"type": "exposure", "event_id": f"x{i}", "experiment": "flat",
                       "variant": variant, "unit_id": f"u{i}", "timestamp": iso(at)})  # fmt: skip
        for k in range(i % 3):
            later = iso(at + timedelta(minutes=1))
            events.append({"type": "metric", "event_id": f"v{i}-{k}", "event_name": "visit",
                           "unit_id": f"u{i}", "timestamp": later})  # fmt: skip
    r = api.post(api.org(f"/projects/{pid}/events"), json={"events": events})
    assert r.status_code == 200, r.text

    r = api.get(api.org(f"/experiments/{experiment['id']}/results"))

    assert r.status_code == 200, r.text
    found = {m["key"]: m for m in r.json()["data"]["metrics"]}
    assert found["revenue"]["error"]["code"] in ("not_analysable", "insufficient_data")
    assert found["revenue"]["comparisons"] == []
    assert found["spend_p50"]["error"]["code"] == "not_analysable"
    assert found["plan"]["kind"]["categorical"]["categories"] == ["(none)"]
    assert found["plan"]["kind"]["categorical"]["chi_square"] is None
    assert len(found["visits"]["comparisons"]) == 1
    decision = api.get(api.org(f"/experiments/{experiment['id']}/decision"))
    assert decision.status_code == 200, decision.text
    assert decision.json()["data"]["decision"] == "keep_running"
