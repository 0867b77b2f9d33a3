"""Validate: every problem of a document at once, each with its JSON path, writing nothing."""

from __future__ import annotations

from typing import Any

from tests.integration.design import factories as f
from tests.integration.workspace.workspaces import minimal
from tests.support.servers import ApiClient


def _validate(api: ApiClient, document: Any) -> dict[str, Any]:
    response = api.post(api.org("/workspace/validate"), json=document)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _audit_count(api: ApiClient) -> int:
    return len(api.get(api.org("/audit"), params={"limit": 1000}).json()["data"])


def _broken() -> dict[str, Any]:
    """The minimal document with one problem of each kind."""
    document = minimal()
    project = document["projects"][0]
    del project["segments"][0]["name"]  # schema
    project["metrics"].append({"key": "buy", "name": "Again", "type": "count", "event_name": "x"})
    project["audiences"][0]["conditions"]["any"][1]["operator"] = "approx"
    project["audiences"][0]["conditions"]["any"][0] = {"segment": "ghost"}
    experiment = project["experiments"][0]
    experiment["variants"][1]["weight"] = 40
    experiment["audience"] = "nobody"
    experiment["allocation"] = [[0, 100]]
    second = {"key": "exp2", "name": "Two", "exclusion_group": "layer", "traffic_percent": 50}
    project["experiments"].append({**second, "variants": f.variants()})
    project["flags"].append({"key": "n", "type": "number", "default_value": "3"})
    return document


def test_validate__every_problem_with_its_path(api: ApiClient) -> None:
    before = _audit_count(api)

    result = _validate(api, _broken())

    assert result["valid"] is False
    found = {(p["path"], p["code"]) for p in result["problems"]}
    at = "$.projects[0]"
    assert found == {
        (f"{at}.segments[0].name", "schema"),
        (f"{at}.metrics[1].key", "duplicate_key"),
        (f"{at}.audiences[0].conditions.any[1].operator", "invalid_value"),
        (f"{at}.audiences[0].conditions.any[0].segment", "unknown_reference"),
        (f"{at}.experiments[0].variants", "invalid_value"),
        (f"{at}.experiments[0].audience", "unknown_reference"),
        (f"{at}.experiments[0].allocation", "invalid_allocation"),
        (f"{at}.exclusion_groups[0]", "layer_full"),
        (f"{at}.flags[1].default_value", "invalid_value"),
    }
    assert all(p["message"] for p in result["problems"])
    assert api.get(api.org("/projects")).json()["data"] == []
    assert _audit_count(api) == before


def test_validate__valid_minimal_document(api: ApiClient) -> None:
    assert _validate(api, minimal()) == {"valid": True, "problems": []}


def test_validate__not_a_workspace_document__one_problem(api: ApiClient) -> None:
    result = _validate(api, {"format": "something.else", "version": 1, "projects": "x"})
    assert [(p["path"], p["code"]) for p in result["problems"]] == [("$.format", "schema")]
    later = _validate(api, {**minimal(), "version": 2})
    assert [p["path"] for p in later["problems"]] == ["$.version"]


def test_validate__shapes__problems_not_errors(api: ApiClient) -> None:
    document = minimal()
    document["projects"].append("not an object")
    document["projects"][0]["flags"] = {"key": "x"}
    document["webhooks"] = [{"url": "ftp://example.com/x", "event_types": ["*"]}]
    document["surplus"] = True
    result = _validate(api, document)
    assert {p["path"] for p in result["problems"]} == {
        "$.surplus",
        "$.projects[1]",
        "$.projects[0].flags",
        "$.webhooks[0].url",
    }
    refused = api.post(api.org("/workspace/validate"), json=[1, 2])
    assert refused.status_code == 422
    assert f.code(refused) == "validation_error"


def test_validate__duplicates_and_lifecycle_references(api: ApiClient) -> None:
    document = minimal()
    document["projects"].append(minimal()["projects"][0])
    experiment = document["projects"][0]["experiments"][0]
    experiment["status"] = "stopped"
    actor = {"type": "token", "name": "ci"}
    experiment["decision"] = {
        "winner": "nope", "rollout_flag": "ghost", "decided_at": "2026-11-22T10:00:00Z",
        "actor": actor,
    }  # fmt: skip
    plan = {
        "version": 1, "created_at": "2026-11-22T09:00:00Z", "actor": actor,
        "metrics": {"primary": ["buy", "gone"]}, "analysis": {}, "variants": [],
    }  # fmt: skip
    experiment["plans"] = [plan, plan]
    result = _validate(api, document)
    at = "$.projects[0].experiments[0]"
    assert {(p["path"], p["code"]) for p in result["problems"]} == {
        ("$.projects[1].key", "duplicate_key"),
        (f"{at}.decision.winner", "unknown_reference"),
        (f"{at}.decision.rollout_flag", "unknown_reference"),
        (f"{at}.plans[0].metrics.primary[1]", "unknown_reference"),
        (f"{at}.plans[1].metrics.primary[1]", "unknown_reference"),
        (f"{at}.plans[1].version", "duplicate_version"),
    }


def test_validate__deeply_nested_tree__a_problem_not_a_500(api: ApiClient) -> None:
    tree: dict[str, Any] = {"attribute": "a", "operator": "exists"}
    for level in range(400):
        tree = {"not": tree} if level % 2 else {"all": [tree]}
    document = minimal()
    document["projects"][0]["audiences"][0]["conditions"] = tree

    result = _validate(api, document)

    paths = [p["path"] for p in result["problems"]]
    assert paths
    assert all(path.startswith("$.projects[0].audiences[0]") for path in paths)


def test_validate__regex_not_re2__problem_at_each_pattern(api: ApiClient) -> None:
    # Given: patterns RE2 cannot compile (lookaround, backreference) in every rule tree
    document = minimal()
    project = document["projects"][0]
    leaf = {"attribute": "name", "operator": "regex", "value": "^(?=admin)"}
    project["audiences"][0]["conditions"]["any"][1] = leaf
    conditions = {"key": "named", "name": "Named", "type": "conditions",
                  "conditions": {"all": [{**leaf, "value": "(a)\\1"}]}}  # fmt: skip
    project["segments"].append(conditions)
    plain = {"key": "plain", "type": "boolean", "default_value": False,
             "rules": [{"conditions": leaf, "value": True}]}  # fmt: skip
    project["flags"].append(plain)

    result = _validate(api, document)

    at = "$.projects[0]"
    assert {(p["path"], p["code"]) for p in result["problems"]} == {
        (f"{at}.audiences[0].conditions.any[1].value", "invalid_value"),
        (f"{at}.segments[1].conditions.all[0].value", "invalid_value"),
        (f"{at}.flags[1].rules[0].conditions.value", "invalid_value"),
    }
    imported = api.post(api.org("/workspace/import"), json=document)
    assert imported.status_code == 422, imported.text
    assert api.get(api.org("/projects")).json()["data"] == []
