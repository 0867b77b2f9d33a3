"""Group ids (the ABC `group_id` of each variant) survive export and import: kept as the
document numbers them, checked for clashes, and refused or renumbered explicitly when the
organisation already holds one."""

from __future__ import annotations

from typing import Any

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import abc, create_sdk_key, settle
from tests.integration.workspace.workspaces import minimal
from tests.support.servers import ApiClient, LiveServer

EXP = "$.projects[0].experiments[0]"


def _numbered(control: int, treatment: int) -> dict[str, Any]:
    """The minimal document with its two variants numbered, and a plan version naming them."""
    document = minimal()
    experiment = document["projects"][0]["experiments"][0]
    experiment["variants"][0]["group_id"] = control
    experiment["variants"][1]["group_id"] = treatment
    return document


def _variants(api: ApiClient) -> dict[str, int]:
    (experiment,) = api.get(api.org("/experiments")).json()["data"]
    return {v["key"]: v["group_id"] for v in experiment["variants"]}


def test_import__group_ids_of_the_document_kept_and_answered_by_abc(
    api: ApiClient, live_server: LiveServer
) -> None:
    imported = api.post(api.org("/workspace/import"), json=_numbered(8942824, 17))
    assert imported.status_code == 201, imported.text
    assert imported.json()["data"]["renumbered_group_ids"] == []
    assert _variants(api) == {"control": 8942824, "treatment_1": 17}

    # the experiment runs and the ABC API answers those numbers
    (experiment,) = api.get(api.org("/experiments")).json()["data"]
    f.act(api, experiment["id"], "start")
    key = create_sdk_key(api, experiment["project_id"])
    settle(live_server)
    seen = set()
    for i in range(40):
        body = {"project_id": "shop", "unit_id": f"u{i}",
                "profiles": {"country": {"user_attrs": ["US"]}}}  # fmt: skip
        layers = abc(api, "get_experiments", key, body).json()["exp_data"]
        seen.add(layers["layer"]["group_id"])
    assert seen <= {8942824, 17, -1}
    assert {8942824, 17} <= seen


def test_export__carries_group_ids_of_variants_and_plans(api: ApiClient) -> None:
    assert api.post(api.org("/workspace/import"), json=_numbered(5000001, 5000002)).status_code
    (experiment,) = api.get(api.org("/experiments")).json()["data"]
    f.act(api, experiment["id"], "start")  # pins plan version 1

    document = api.get(api.org("/workspace/export")).json()
    (exported,) = document["projects"][0]["experiments"]

    assert [v["group_id"] for v in exported["variants"]] == [5000001, 5000002]
    assert [v["group_id"] for v in exported["plans"][0]["variants"]] == [5000001, 5000002]


def test_new_experiments__distinct_numbers_in_the_org(api: ApiClient) -> None:
    pid = f.create_project(api)["id"]
    numbers = [
        v["group_id"]
        for _ in range(5)
        for v in f.create_experiment(api, pid, variants=f.variants({}, {}, {}))["variants"]
    ]
    assert len(set(numbers)) == 15
    assert all(1 <= n < 2**31 for n in numbers)


def test_import__number_the_org_holds__409_then_renumbered_on_request(api: ApiClient) -> None:
    # Given: the org once held number N (an experiment deleted with its project: numbers are
    # never reused), and a document that numbers a variant N
    pid = f.create_project(api)["id"]
    gone = f.create_experiment(api, pid)
    held = gone["variants"][0]["group_id"]
    assert api.delete(api.org(f"/experiments/{gone['id']}")).status_code == 204
    assert api.delete(api.org(f"/projects/{pid}")).status_code == 204
    document = _numbered(held, 4242)

    # When: it is imported
    refused = api.post(api.org("/workspace/import"), json=document)

    # Then: refused, saying where, and nothing is written
    assert refused.status_code == 409, refused.text
    assert f.code(refused) == "group_id_conflict"
    where = {"path": f"{EXP}.variants[0].group_id", "group_id": held}
    assert refused.json()["error"]["details"]["group_ids"] == [where]
    assert api.get(api.org("/projects")).json()["data"] == []

    # When: renumbering is asked for
    renumber = {"on_group_id_conflict": "renumber"}
    imported = api.post(api.org("/workspace/import"), json=document, params=renumber)

    # Then: that variant gets a new number, the other keeps its own, and the answer says so
    assert imported.status_code == 201, imported.text
    numbers = _variants(api)
    assert numbers["treatment_1"] == 4242
    assert numbers["control"] not in (held, 4242)
    assert imported.json()["data"]["renumbered_group_ids"] == [
        {"project": "shop", "experiment": "exp", "variant": "control",
         "from_group_id": held, "to_group_id": numbers["control"]},
    ]  # fmt: skip


def test_validate__a_number_twice_or_a_variant_numbered_twice__problems(api: ApiClient) -> None:
    document = _numbered(7, 7)
    experiment = document["projects"][0]["experiments"][0]
    experiment["plans"] = [
        {"version": 1, "created_at": "2026-11-22T10:00:00Z",
         "actor": {"type": "user", "name": "Ann"}, "metrics": {"primary": ["buy"]},
         "analysis": {}, "variants": [{"key": "control", "weight": 50, "group_id": 8},
                                      {"key": "treatment_1", "weight": 50}]},
    ]  # fmt: skip

    result = api.post(api.org("/workspace/validate"), json=document).json()["data"]

    assert {(p["path"], p["code"]) for p in result["problems"]} == {
        (f"{EXP}.variants[1].group_id", "duplicate_group_id"),
        (f"{EXP}.plans[0].variants[0].group_id", "invalid_value"),
    }
    refused = api.post(api.org("/workspace/import"), json=document)
    assert refused.status_code == 422
    assert api.get(api.org("/projects")).json()["data"] == []


def test_validate__group_id_out_of_range__schema_problem(api: ApiClient) -> None:
    result = api.post(api.org("/workspace/validate"), json=_numbered(0, 2**31)).json()["data"]
    assert {(p["path"], p["code"]) for p in result["problems"]} == {
        (f"{EXP}.variants[0].group_id", "schema"),
        (f"{EXP}.variants[1].group_id", "schema"),
    }
