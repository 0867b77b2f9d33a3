"""Templates: a stored experiment design; ``use`` creates a draft experiment from it."""

from __future__ import annotations

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def test_use__creates_a_draft_with_the_design(api: ApiClient, project: f.Json) -> None:
    metric = f.create_metric(api, project["id"])
    body = {
        "hypothesis": "Shorter forms convert",
        "traffic_percent": 40,
        "variants": f.variants({"fields": "8"}, {"fields": "4"}),
        "metrics": {"primary": [metric["id"]]},
        "analysis": {"method": "bayesian"},
    }
    template = f.create_template(api, project["id"], body=body)
    assert template["body"]["analysis"]["stopping_rule"] == "fixed_horizon"

    used = api.post(
        api.org(f"/templates/{template['id']}/use"),
        json={"project_id": project["id"], "key": "signup_form", "name": "Signup form"},
    )
    assert used.status_code == 201, used.text
    exp = used.json()["data"]
    assert (exp["status"], exp["key"], exp["name"]) == ("draft", "signup_form", "Signup form")
    assert exp["hypothesis"] == body["hypothesis"]
    assert exp["traffic_percent"] == 40
    assert exp["metrics"]["primary"] == [metric["id"]]
    assert exp["analysis"]["method"] == "bayesian"
    assert [v["params"] for v in exp["variants"]] == [{"fields": "8"}, {"fields": "4"}]
    assert all(v["group_id"] > 0 for v in exp["variants"])

    again = api.post(
        api.org(f"/templates/{template['id']}/use"),
        json={"project_id": project["id"], "key": "signup_form", "name": "Again"},
    )
    assert again.status_code == 409


def test_use__references_checked_in_the_target_project(api: ApiClient, project: f.Json) -> None:
    metric = f.create_metric(api, project["id"])
    template = f.create_template(
        api, project["id"], body={"variants": f.variants(), "metrics": {"primary": [metric["id"]]}}
    )
    other = f.create_project(api)
    used = api.post(
        api.org(f"/templates/{template['id']}/use"),
        json={"project_id": other["id"], "key": "k", "name": "n"},
    )
    assert f.fields(used) == ["metrics.primary.0"]
    bad = api.post(api.org(f"/templates/{template['id']}/use"), json={"project_id": other["id"]})
    assert set(f.fields(bad)) == {"key", "name"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"variants": [{"key": "a", "weight": 100}]}, "body.variants"),
        ({"variants": [{"key": "a", "weight": 50}, {"key": "a", "weight": 50}]},
         "body.variants.1.key"),
        ({"variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 5}]}, "body.variants"),
        ({"variants": f.variants(), "analysis": {"stopping_rule": "sequential"}},
         "body.analysis.stopping_rule"),
        ({"variants": f.variants(), "key": "no"}, "body.key"),
    ],
)  # fmt: skip
def test_bad_bodies__422(api: ApiClient, project: f.Json, body: f.Json, path: str) -> None:
    payload = {"project_id": project["id"], "key": "t", "name": "T", "body": body}
    assert f.fields(api.post(api.org("/templates"), json=payload)) == [path]


def test_use__needs_experiments_write(api: ApiClient, project: f.Json) -> None:
    template = f.create_template(api, project["id"])
    token = api.post(api.org("/tokens"), json={"name": "t", "scopes": ["templates:write"]}).json()[
        "data"
    ]["token"]
    with api.server.client(token) as limited:
        refused = limited.post(
            api.org(f"/templates/{template['id']}/use"),
            json={"project_id": project["id"], "key": "k", "name": "n"},
        )
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["missingScope"] == "experiments:write"
