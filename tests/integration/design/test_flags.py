"""Flags: typed values, rules by audience / conditions / rollout, experiment binding, webhooks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def _create(api: ApiClient, project: f.Json, **body: Any) -> Any:
    payload = {"project_id": project["id"], "key": f.unique("flag"), **body}
    return api.post(api.org("/flags"), json=payload)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("boolean", True, "true"),
        ("string", "green", 1),
        ("number", 2.5, "2.5"),
        ("number", 3, True),
        ("json", {"a": [1, None]}, None),  # null is a JSON value: no bad case
    ],
)
def test_values_of_the_declared_type(
    api: ApiClient, project: f.Json, kind: str, good: Any, bad: Any
) -> None:
    rules = [{"rollout_percent": 50, "value": good}]
    created = _create(api, project, type=kind, default_value=good, rules=rules)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert (data["default_value"], data["rules"][0]["value"]) == (good, good)
    assert data["name"] == data["key"]
    assert data["enabled"] is True
    if kind == "json":
        return
    assert f.fields(_create(api, project, type=kind, default_value=bad)) == ["default_value"]
    bad_rule = [*rules, {"value": bad}]
    assert f.fields(_create(api, project, type=kind, default_value=good, rules=bad_rule)) == [
        "rules.1.value"
    ]


def test_type_change__values_rechecked(api: ApiClient, project: f.Json) -> None:
    flag = f.create_flag(api, project["id"])
    url = api.org(f"/flags/{flag['id']}")
    assert f.fields(api.patch(url, json={"type": "number"})) == ["default_value"]
    ok = api.patch(url, json={"type": "number", "default_value": 7})
    assert ok.status_code == 200
    assert ok.json()["data"]["default_value"] == 7


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"value": "x", "rollout_percent": 101}, "rules.0.rollout_percent"),
        ({"value": "x", "rollout_percent": -1}, "rules.0.rollout_percent"),
        ({"value": "x", "audience_id": "aud_nope"}, "rules.0.audience_id"),
        ({"value": "x", "conditions": {"attribute": "a", "operator": "like"}},
         "rules.0.conditions.operator"),
        ({"value": "x", "conditions": {"segment": "seg_nope"}}, "rules.0.conditions.segment"),
        ({"value": "x", "weight": 1}, "rules.0.weight"),
        ({"rollout_percent": 10}, "rules.0.value"),
    ],
)  # fmt: skip
def test_rules__422_at_path(api: ApiClient, project: f.Json, rule: f.Json, path: str) -> None:
    created = _create(api, project, type="string", default_value="red", rules=[rule])
    assert f.fields(created) == [path]


def test_rules__audience_conditions_and_rollout(api: ApiClient, project: f.Json) -> None:
    audience = f.create_audience(api, project["id"])
    segment = f.create_segment(api, project["id"])
    rules = [
        {"audience_id": audience["id"], "value": "us"},
        {"conditions": {"segment": segment["id"]}, "rollout_percent": 25, "value": "vip"},
        {"rollout_percent": 5, "value": "canary"},
    ]
    flag = f.create_flag(api, project["id"], rules=rules)
    assert [r["value"] for r in flag["rules"]] == ["us", "vip", "canary"]
    assert flag["rules"][0] == {
        "audience_id": audience["id"], "conditions": None, "rollout_percent": 100, "value": "us",
    }  # fmt: skip
    foreign = f.create_audience(api, f.create_project(api)["id"])
    bad = [{"audience_id": foreign["id"], "value": "x"}]
    assert f.fields(_create(api, project, type="string", default_value="a", rules=bad)) == [
        "rules.0.audience_id"
    ]
    # The audience and the segment are in use now.
    assert api.delete(api.org(f"/audiences/{audience['id']}")).status_code == 409
    assert api.delete(api.org(f"/segments/{segment['id']}")).status_code == 409


def test_kill_switch__and_webhooks(
    api: ApiClient, project: f.Json, emitted: list[tuple[str, f.Json]]
) -> None:
    flag = f.create_flag(api, project["id"])
    url = api.org(f"/flags/{flag['id']}")
    off = api.patch(url, json={"enabled": False})
    assert off.json()["data"]["enabled"] is False
    api.patch(url, json={"enabled": False})  # no change: no event
    assert api.post(f"{url}/revisions/1/restore").json()["data"]["enabled"] is True
    assert api.delete(url).status_code == 204
    ours = [event for event, data in emitted if data["id"] == flag["id"]]
    assert ours == ["flag.created", "flag.updated", "flag.updated", "flag.deleted"]


class TestExperimentBinding:
    def test_bound__param_of_every_variant(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        flag = f.create_flag(api, project["id"], experiment_id=exp["id"], experiment_param="color")
        assert (flag["experiment_id"], flag["experiment_param"]) == (exp["id"], "color")
        listed = api.get(api.org("/flags"), params={"experiment_id": exp["id"]}).json()["data"]
        assert [x["id"] for x in listed] == [flag["id"]]

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"experiment_param": "size"}, "experiment_param"),
            ({"experiment_param": None}, "experiment_param"),
            ({"type": "number", "default_value": 1}, "experiment_param"),
            ({"experiment_id": "exp_nope"}, "experiment_id"),
            ({"experiment_id": None}, "experiment_id"),
        ],
    )
    def test_bad_binding__422(
        self, api: ApiClient, project: f.Json, body: f.Json, path: str
    ) -> None:
        exp = f.create_experiment(
            api, project["id"], variants=f.variants({"color": "red", "size": "1"}, {"color": "x"})
        )
        payload = {
            "type": "string", "default_value": "red",
            "experiment_id": exp["id"], "experiment_param": "color", **body,
        }  # fmt: skip
        assert f.fields(_create(api, project, **payload)) == [path]

    def test_variants_losing_a_bound_param__422(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        f.create_flag(api, project["id"], experiment_id=exp["id"], experiment_param="color")
        renamed = f.variants({"colour": "red"}, {"colour": "blue"})
        patched = api.patch(api.org(f"/experiments/{exp['id']}"), json={"variants": renamed})
        assert f.fields(patched) == ["variants.0.params"]

    def test_unbind__by_patch(self, api: ApiClient, project: f.Json) -> None:
        exp = f.create_experiment(api, project["id"])
        flag = f.create_flag(api, project["id"], experiment_id=exp["id"], experiment_param="color")
        url = api.org(f"/flags/{flag['id']}")
        unbound = api.patch(url, json={"experiment_id": None, "experiment_param": None})
        assert unbound.status_code == 200
        assert unbound.json()["data"]["experiment_id"] is None
        assert api.delete(api.org(f"/experiments/{exp['id']}")).status_code == 204
