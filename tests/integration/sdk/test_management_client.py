"""`avsb_sdk.ManagementClient` against a real server: every page of a list, errors."""

from __future__ import annotations

import pytest

from avsb_sdk import ApiError, ManagementClient
from tests.integration.design import factories as f
from tests.support.servers import ApiClient


def test_list_projects__all_pages(api: ApiClient) -> None:
    created = [f.create_project(api)["id"] for _ in range(7)]
    with ManagementClient(api.server.url, api.token) as client:
        listed = [p["id"] for p in client.list_projects(api.org_id, limit=3)]
    assert listed == created


def test_list_experiments__filtered_all_pages(api: ApiClient) -> None:
    pid = f.create_project(api)["id"]
    other = f.create_project(api)["id"]
    mine = [f.create_experiment(api, pid)["id"] for _ in range(5)]
    f.create_experiment(api, other)
    f.act(api, mine[0], "start")
    with ManagementClient(api.server.url, api.token) as client:
        assert [
            e["id"] for e in client.list_experiments(api.org_id, project_id=pid, limit=2)
        ] == mine
        running = client.list_experiments(api.org_id, project_id=pid, status="running")
        assert [e["id"] for e in running] == mine[:1]


def test_sdk_key__created_and_usable(api: ApiClient) -> None:
    pid = f.create_project(api)["id"]
    with ManagementClient(api.server.url, api.token) as client:
        key = client.create_sdk_key(api.org_id, pid, "web")
        assert (key["kind"], key["project_id"]) == ("sdk", pid)
        assert key["token"].startswith("avsb_sdk_")


def test_error__api_error_with_code(api: ApiClient) -> None:
    with ManagementClient(api.server.url, api.token) as client, pytest.raises(ApiError) as caught:
        client.get(f"/api/orgs/{api.org_id}/projects/prj_nope")
    assert (caught.value.status_code, caught.value.code) == (404, "not_found")
    assert caught.value.request_id
