"""Issue #11, finding 1, through ingestion: a metric whose control mean is negative (-4.95)
and whose variant is higher (-4.00, higher is better) must read as an improvement in
``GET .../results`` and ``GET .../decision`` under every method, never as "-19%, worse".

Events go through ``POST .../events`` on the default event store of the run (DuckDB, or
PostgreSQL in the PostgreSQL pass); the expected numbers are computed here with numpy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from tests.integration.design.factories import act, create_metric, create_project, post
from tests.support.servers import ApiClient

from .simulation import day_start, iso

Json = dict[str, Any]
UNITS_PER_ARM = 300
MEANS = {"control": -4.95, "treatment": -4.00}


def _events(prefix: str, seed: int) -> tuple[list[Json], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    events: list[Json] = []
    values: dict[str, list[float]] = {"control": [], "treatment": []}
    at = day_start(2) + timedelta(hours=10)
    for i in range(2 * UNITS_PER_ARM):
        variant = "control" if i % 2 == 0 else "treatment"
        unit = f"{prefix}-u{i}"
        value = float(rng.normal(MEANS[variant], 1.0))
        values[variant].append(value)
        events.append({"type": "exposure", "event_id": f"{prefix}-x{i}", "experiment": prefix,
                       "variant": variant, "unit_id": unit, "timestamp": iso(at)})  # fmt: skip
        events.append({"type": "metric", "event_id": f"{prefix}-m{i}", "event_name": "profit",
                       "unit_id": unit, "value": value,
                       "timestamp": iso(at + timedelta(minutes=5))})  # fmt: skip
    return events, {k: np.asarray(v) for k, v in values.items()}


@pytest.mark.parametrize("method", ["frequentist", "bayesian", "sequential"])
def test_negative_control_mean__improvement_read_as_improvement(
    api: ApiClient, method: str
) -> None:
    pid = create_project(api)["id"]
    metric = create_metric(api, pid, key="profit", event_name="profit", type="mean",
                           window_hours=168)  # fmt: skip
    key = f"neg_{method}"
    body = {
        "project_id": pid, "key": key, "name": key,
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "metrics": {"primary": [metric["id"]]},
        "analysis": {"method": method, "correction": "none", "cuped": False,
                     "planned_sample_size": UNITS_PER_ARM},
    }  # fmt: skip
    eid = act(api, post(api, "/experiments", body)["id"], "start")["id"]
    events, values = _events(key, seed=11)
    r = api.post(api.org(f"/projects/{pid}/events"), json={"events": events})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["rejected"] == []

    r = api.get(api.org(f"/experiments/{eid}/results"))
    assert r.status_code == 200, r.text
    (readout,) = r.json()["data"]["metrics"]
    means = {v["key"]: v["mean"] for v in readout["variants"]}
    assert means["control"] == pytest.approx(values["control"].mean(), rel=1e-9)
    assert means["treatment"] == pytest.approx(values["treatment"].mean(), rel=1e-9)
    (comparison,) = readout["comparisons"]
    # The relative lift of a negative control cannot be read; the answer is absolute and says so.
    difference = values["treatment"].mean() - values["control"].mean()
    assert comparison["estimate"] == pytest.approx(difference, rel=1e-6)
    assert comparison["notes"], comparison
    lo, hi = comparison["ci"]
    assert lo is not None
    assert lo > 0
    assert hi is None or hi > lo

    r = api.get(api.org(f"/experiments/{eid}/decision"))
    assert r.status_code == 200, r.text
    decision = r.json()["data"]
    assert decision["decision"] == "ship", decision
    assert decision["variant"] == "treatment"
