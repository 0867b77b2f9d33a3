"""Import: all or nothing, only into an empty organisation; export: one organisation only;
scopes of the workspace family."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.integration.workspace.workspaces import minimal
from tests.support.servers import ApiClient, LiveServer, new_org_client


def _import(api: ApiClient, document: Any) -> Any:
    return api.post(api.org("/workspace/import"), json=document)


def _audit_actions(api: ApiClient) -> list[str]:
    events = api.get(api.org("/audit"), params={"limit": 1000}).json()["data"]
    return [event["action"] for event in events]


def test_import__hand_written_document__salts_and_buckets_filled_in(api: ApiClient) -> None:
    imported = _import(api, minimal())

    assert imported.status_code == 201, imported.text
    (project,) = imported.json()["data"]["projects"]
    assert project["key"] == "shop"
    assert project["id"].startswith("prj_")
    (experiment,) = api.get(api.org("/experiments")).json()["data"]
    assert experiment["status"] == "draft"
    assert experiment["allocation"] == [[0, 6000]]
    assert len(experiment["salt"]) >= 8
    (flag,) = api.get(api.org("/flags")).json()["data"]
    assert flag["experiment_id"] == experiment["id"]
    (audience,) = api.get(api.org("/audiences")).json()["data"]
    (segment,) = api.get(api.org("/segments")).json()["data"]
    assert audience["conditions"]["any"][0] == {"segment": segment["id"]}
    assert segment["member_count"] == 2
    assert "workspace.imported" in _audit_actions(api)


def test_import__invalid_document__422_with_problems_and_nothing_written(api: ApiClient) -> None:
    document = minimal()
    document["projects"][0]["experiments"][0]["variants"][0]["weight"] = 10
    document["projects"][0]["flags"][0]["experiment"] = "ghost"
    before = _audit_actions(api)

    refused = _import(api, document)

    assert refused.status_code == 422, refused.text
    assert f.code(refused) == "validation_error"
    problems = refused.json()["error"]["details"]["problems"]
    validated = api.post(api.org("/workspace/validate"), json=document).json()["data"]
    assert problems == validated["problems"]
    assert {p["path"] for p in problems} == {
        "$.projects[0].experiments[0].variants",
        "$.projects[0].flags[0].experiment",
    }
    assert [x["path"] for x in refused.json()["error"]["details"]["fields"]] == [
        p["path"] for p in problems
    ]
    for path in ("/projects", "/experiments", "/segments", "/metrics", "/exclusion-groups"):
        assert api.get(api.org(path)).json()["data"] == [], path
    assert _audit_actions(api) == before


def test_import__organisation_with_projects__409(api: ApiClient) -> None:
    f.create_project(api, key="existing")

    refused = _import(api, minimal())

    assert refused.status_code == 409, refused.text
    assert f.code(refused) == "conflict"
    assert "already has 1 project" in refused.json()["error"]["message"]
    assert [p["key"] for p in api.get(api.org("/projects")).json()["data"]] == ["existing"]


def test_import__twice__second_409(api: ApiClient) -> None:
    assert _import(api, minimal()).status_code == 201
    assert _import(api, minimal()).status_code == 409


def test_export__only_its_own_organisation(api: ApiClient, live_server: LiveServer) -> None:
    assert _import(api, minimal()).status_code == 201
    with new_org_client(live_server) as other:
        theirs = f.create_project(other, key="their_project")
        f.create_segment(other, theirs["id"], key="their_segment", unit_ids=["their_unit"])
        f.create_metric(other, theirs["id"], key="their_metric")
        hook = {"url": "https://93.184.215.14/theirs", "event_types": ["*"]}
        assert other.post(other.org("/webhooks"), json=hook).status_code == 201

        mine = api.get(api.org("/workspace/export"))
        foreign = api.get(f"/api/orgs/{other.org_id}/workspace/export")
        mine_again = other.post(f"/api/orgs/{api.org_id}/workspace/import", json=minimal())

    assert mine.status_code == 200
    assert [p["key"] for p in mine.json()["projects"]] == ["shop"]
    for marker in ("their_", theirs["id"], other.org_id, "/theirs"):
        assert marker not in mine.text
    assert foreign.status_code == 404
    assert mine_again.status_code == 404


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (["workspace:read"], {"export": 200, "validate": 200, "import": 403}),
        (["workspace:write"], {"export": 200, "validate": 200, "import": 201}),
        (["projects:write", "experiments:write"], {"export": 403, "validate": 403, "import": 403}),
    ],
)
def test_scopes(live_server: LiveServer, scopes: list[str], expected: dict[str, int]) -> None:
    with new_org_client(live_server, scopes=scopes) as client:
        answers = {
            "export": client.get(client.org("/workspace/export")),
            "validate": client.post(client.org("/workspace/validate"), json=minimal()),
            "import": _import(client, minimal()),
        }
    assert {name: r.status_code for name, r in answers.items()} == expected
    for response in answers.values():
        if response.status_code == 403:
            assert f.code(response) == "scope_missing"
            assert response.json()["error"]["details"]["missingScope"].startswith("workspace:")
