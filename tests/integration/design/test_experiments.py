"""Experiment design: validation with field paths, variant group ids, salts, list filters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def _create(api: ApiClient, project: f.Json, **overrides: Any) -> Any:
    return api.post(api.org("/experiments"), json=f.experiment_body(project["id"], **overrides))


class TestCreate:
    def test_created__draft_with_salt_group_ids_and_defaults(
        self, api: ApiClient, project: f.Json
    ) -> None:
        data = f.create_experiment(api, project["id"])
        assert data["status"] == "draft"
        assert len(data["salt"]) == 16
        assert int(data["salt"], 16) >= 0
        group_ids = [v["group_id"] for v in data["variants"]]
        assert all(isinstance(g, int) and g > 0 for g in group_ids)
        assert len(set(group_ids)) == 2
        assert data["analysis"]["stopping_rule"] == "fixed_horizon"
        assert data["metrics"] == {"primary": [], "secondary": [], "guardrail": []}
        assert data["allocation"] is None
        assert data["decision"] is None

    def test_group_ids__unique_in_org_and_stable_across_edits(
        self, api: ApiClient, project: f.Json
    ) -> None:
        first = f.create_experiment(api, project["id"])
        second = f.create_experiment(api, project["id"])
        ids = [v["group_id"] for e in (first, second) for v in e["variants"]]
        assert len(set(ids)) == 4
        three = f.variants({"color": "red"}, {"color": "blue"}, {"color": "green"})
        patched = api.patch(api.org(f"/experiments/{first['id']}"), json={"variants": three})
        assert patched.status_code == 200, patched.text
        new_ids = [v["group_id"] for v in patched.json()["data"]["variants"]]
        assert new_ids[:2] == ids[:2]
        assert new_ids[2] not in ids

    def test_given_salt__kept(self, api: ApiClient, project: f.Json) -> None:
        data = f.create_experiment(api, project["id"], salt="my_salt_1234")
        assert data["salt"] == "my_salt_1234"

    def test_salt__unique_in_project(self, api: ApiClient, project: f.Json) -> None:
        f.create_experiment(api, project["id"], salt="shared_salt_1")
        assert f.fields(_create(api, project, salt="shared_salt_1")) == ["salt"]
        other = f.create_experiment(api, project["id"])
        patched = api.patch(api.org(f"/experiments/{other['id']}"), json={"salt": "shared_salt_1"})
        assert f.fields(patched) == ["salt"]
        f.create_experiment(api, f.create_project(api)["id"], salt="shared_salt_1")

    def test_sequential_method__sequential_stopping_rule(
        self, api: ApiClient, project: f.Json
    ) -> None:
        data = f.create_experiment(api, project["id"], analysis={"method": "sequential"})
        assert data["analysis"]["stopping_rule"] == "sequential"


def _variant(key: str, weight: float, **params: Any) -> f.Json:
    return {"key": key, "weight": weight, "params": params}


class TestValidation:
    @pytest.mark.parametrize(
        ("variants", "path"),
        [
            ([_variant("a", 100)], "variants"),
            ([_variant(f"v{i}", 100 / 11) for i in range(11)], "variants"),
            ([_variant("a", 50), _variant("a", 50)], "variants.1.key"),
            ([_variant("a", 100), _variant("b", 0)], "variants.1.weight"),
            ([_variant("a", 150), _variant("b", -50)], "variants.0.weight"),  # and .1
            ([_variant("a", 50), _variant("b", 40)], "variants"),
            ([_variant("a", 50, color=1), _variant("b", 50)], "variants.0.params.color"),
            ([_variant("a", 50, color=None), _variant("b", 50)], "variants.0.params.color"),
            ([_variant("a", 50), {"key": "b", "weight": 50, "params": ["x"]}], "variants.1.params"),
            ([_variant("a", 50), _variant("no spaces", 50)], "variants.1.key"),
            ([_variant("a", 50), {"key": "b", "weight": 50, "extra": 1}], "variants.1.extra"),
        ],
    )
    def test_variants__422_at_path(
        self, api: ApiClient, project: f.Json, variants: list[f.Json], path: str
    ) -> None:
        assert f.fields(_create(api, project, variants=variants))[0] == path

    def test_thirds_and_ten_variants__accepted(self, api: ApiClient, project: f.Json) -> None:
        thirds = [_variant(f"v{i}", 100 / 3) for i in range(3)]
        assert _create(api, project, variants=thirds).status_code == 201
        ten = [_variant(f"v{i}", 10) for i in range(10)]
        assert _create(api, project, variants=ten).status_code == 201

    def test_metrics__must_be_metrics_of_the_project_once(
        self, api: ApiClient, project: f.Json
    ) -> None:
        metric = f.create_metric(api, project["id"])
        foreign = f.create_metric(api, f.create_project(api)["id"])
        bad = {"primary": [metric["id"]], "guardrail": [foreign["id"]]}
        assert f.fields(_create(api, project, metrics=bad)) == ["metrics.guardrail.0"]
        twice = {"primary": [metric["id"]], "secondary": [metric["id"]]}
        assert f.fields(_create(api, project, metrics=twice)) == ["metrics.secondary.0"]
        assert f.fields(_create(api, project, metrics={"primary": ["met_x"], "extra": []})) == [
            "metrics.extra"
        ]

    def test_references__audience_and_group_of_the_project(
        self, api: ApiClient, project: f.Json
    ) -> None:
        other = f.create_project(api)
        audience = f.create_audience(api, other["id"])
        group = f.create_group(api, other["id"])
        assert f.fields(_create(api, project, audience_id=audience["id"])) == ["audience_id"]
        assert f.fields(_create(api, project, exclusion_group_id=group["id"])) == [
            "exclusion_group_id"
        ]

    @pytest.mark.parametrize(
        ("override", "path"),
        [
            ({"traffic_percent": 0}, "traffic_percent"),
            ({"traffic_percent": 100.5}, "traffic_percent"),
            ({"analysis": {"alpha": 0.9}}, "analysis.alpha"),
            ({"analysis": {"power": 1}}, "analysis.power"),
            ({"analysis": {"method": "magic"}}, "analysis.method"),
            ({"analysis": {"correction": "sidak"}}, "analysis.correction"),
            ({"analysis": {"planned_sample_size": 0}}, "analysis.planned_sample_size"),
            ({"analysis": {"stopping_rule": "sequential"}}, "analysis.stopping_rule"),
            ({"salt": "short"}, "salt"),
            ({"status": "running"}, "status"),
        ],
    )
    def test_fields__422_at_path(
        self, api: ApiClient, project: f.Json, override: f.Json, path: str
    ) -> None:
        assert f.fields(_create(api, project, **override)) == [path]

    def test_patch__weights_checked_on_the_merged_design(
        self, api: ApiClient, project: f.Json
    ) -> None:
        data = f.create_experiment(api, project["id"])
        bad = [_variant("control", 50), _variant("x", 60)]
        url = api.org(f"/experiments/{data['id']}")
        assert f.fields(api.patch(url, json={"variants": bad})) == ["variants"]
        assert f.fields(api.patch(url, json={"traffic_percent": None})) == ["traffic_percent"]


def test_list__status_filter(api: ApiClient, project: f.Json) -> None:
    draft = f.create_experiment(api, project["id"])
    running = f.create_experiment(api, project["id"])
    f.act(api, running["id"], "start")
    listed = api.get(api.org("/experiments"), params={"status": "running"}).json()["data"]
    assert [e["id"] for e in listed] == [running["id"]]
    drafts = api.get(
        api.org("/experiments"), params={"status": "draft", "project_id": project["id"]}
    ).json()["data"]
    assert [e["id"] for e in drafts] == [draft["id"]]
    assert f.fields(api.get(api.org("/experiments"), params={"status": "bogus"})) == ["status"]
