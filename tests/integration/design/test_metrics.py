"""Metric definitions per type: ratio denominators, windows, winsorization, direction."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def _create(api: ApiClient, project: f.Json, **body: Any) -> Any:
    payload = {
        "project_id": project["id"], "key": f.unique("m"), "name": "M",
        "event_name": "purchase", **body,
    }  # fmt: skip
    return api.post(api.org("/metrics"), json=payload)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "binary", "window_hours": 24},
        {"type": "count", "window_hours": None},
        {"type": "sum", "value_property": "amount", "winsorize_percentile": 99.5},
        {"type": "mean", "winsorize_cap": 1000, "lower_is_better": True},
        {"type": "ratio", "denominator_event_name": "session", "value_property": "items"},
    ],
)
def test_valid_definitions__stored_as_given(api: ApiClient, project: f.Json, body: f.Json) -> None:
    created = _create(api, project, **body)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert {k: data[k] for k in body} == body
    assert data["window_hours"] == body.get("window_hours", 168)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "ratio"}, "denominator_event_name"),
        ({"type": "sum", "denominator_event_name": "s"}, "denominator_event_name"),
        ({"type": "count", "window_hours": 0}, "window_hours"),
        ({"type": "count", "window_hours": -5}, "window_hours"),
        ({"type": "sum", "winsorize_percentile": 100}, "winsorize_percentile"),
        ({"type": "sum", "winsorize_percentile": 0}, "winsorize_percentile"),
        ({"type": "sum", "winsorize_percentile": 99, "winsorize_cap": 5}, "winsorize_cap"),
        ({"type": "binary", "winsorize_cap": 5}, "winsorize_percentile"),
        ({"type": "count", "value_property": "amount"}, "value_property"),
        ({"type": "sum", "value_property": "a.b"}, "value_property"),
        ({"type": "median"}, "type"),
        ({"type": "sum", "event_name": ""}, "event_name"),
        ({"type": "sum", "lower_is_better": "sometimes"}, "lower_is_better"),
    ],
)
def test_bad_definitions__422(api: ApiClient, project: f.Json, body: f.Json, path: str) -> None:
    assert f.fields(_create(api, project, **body)) == [path]


def test_patch__definition_rechecked_as_a_whole(api: ApiClient, project: f.Json) -> None:
    metric = f.create_metric(api, project["id"], type="sum")
    url = api.org(f"/metrics/{metric['id']}")
    assert f.fields(api.patch(url, json={"type": "ratio"})) == ["denominator_event_name"]
    ratio = api.patch(url, json={"type": "ratio", "denominator_event_name": "visit"})
    assert ratio.status_code == 200
    back = api.patch(url, json={"type": "count", "denominator_event_name": None})
    assert back.json()["data"]["denominator_event_name"] is None
