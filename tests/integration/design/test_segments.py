"""Segments: id lists stored as rows (bulk upload, paginated members, add / remove) or
conditions (which may not reference other segments)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def _members(api: ApiClient, segment_id: str, **params: Any) -> Any:
    return api.get(api.org(f"/segments/{segment_id}/members"), params=params)


def test_bulk_upload_of_100k_ids__fast_counted_and_paginated(
    api: ApiClient, project: f.Json
) -> None:
    ids = [f"user_{i:06d}" for i in range(100_000)]
    started = time.perf_counter()
    segment = f.create_segment(api, project["id"], unit_ids=ids)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"100k ids took {elapsed:.1f}s"
    assert segment["member_count"] == 100_000
    assert "unit_ids" not in segment

    first = _members(api, segment["id"], limit=1000).json()
    assert [m["unit_id"] for m in first["data"]] == ids[:1000]
    assert first["has_more"] is True
    second = _members(api, segment["id"], limit=1000, cursor=first["next_cursor"]).json()
    assert [m["unit_id"] for m in second["data"]] == ids[1000:2000]
    tail = _members(api, segment["id"], limit=1000)
    assert 'rel="next"' in tail.headers["link"]


def test_members__add_skips_existing_and_remove(api: ApiClient, project: f.Json) -> None:
    segment = f.create_segment(api, project["id"], unit_ids=["a", "b", "b", "c"])
    assert segment["member_count"] == 3
    url = api.org(f"/segments/{segment['id']}/members")

    added = api.post(url, json={"unit_ids": ["c", "d", "e", "e"]})
    assert added.status_code == 200, added.text
    assert added.json()["data"] == {"changed": 2, "member_count": 5}
    removed = api.request("DELETE", url, json={"unit_ids": ["a", "zzz"]})
    assert removed.json()["data"] == {"changed": 1, "member_count": 4}
    assert [m["unit_id"] for m in api.get(url).json()["data"]] == ["b", "c", "d", "e"]

    got = api.get(api.org(f"/segments/{segment['id']}"))
    assert got.json()["data"]["member_count"] == 4
    assert got.headers["etag"] == removed.headers["etag"]
    stale = api.post(url, json={"unit_ids": ["f"]}, headers={"If-Match": 'W/"00"'})
    assert stale.status_code == 412
    audit = api.get(api.org("/audit"), params={"resource_id": segment["id"]}).json()["data"]
    assert [e["action"] for e in audit] == [
        "segment.created", "segment.members_added", "segment.members_removed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"unit_ids": []}, "unit_ids"),
        ({"unit_ids": [""]}, "unit_ids.0"),
        ({"unit_ids": ["ok", "x" * 257]}, "unit_ids.1"),
        ({"unit_ids": ["ok", 5]}, "unit_ids.1"),
        ({"ids": ["a"]}, "ids"),
    ],
)
def test_members__bad_bodies__422(api: ApiClient, project: f.Json, body: f.Json, path: str) -> None:
    segment = f.create_segment(api, project["id"])
    assert path in f.fields(api.post(api.org(f"/segments/{segment['id']}/members"), json=body))


def test_conditions_segment(api: ApiClient, project: f.Json) -> None:
    tree = {"attribute": "plan", "operator": "in", "values": ["pro", "team"]}
    segment = f.create_segment(
        api, project["id"], type="conditions", unit_ids=None, conditions=tree
    )
    assert (segment["conditions"], segment["member_count"]) == (tree, 0)
    members = api.post(api.org(f"/segments/{segment['id']}/members"), json={"unit_ids": ["a"]})
    assert members.status_code == 400
    assert f.code(members) == "segment_type_mismatch"
    new = {"attribute": "plan", "operator": "eq", "value": "pro"}
    patched = api.patch(api.org(f"/segments/{segment['id']}"), json={"conditions": new})
    assert patched.json()["data"]["conditions"] == new


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "ids", "conditions": {"attribute": "a", "operator": "exists"}}, "conditions"),
        ({"type": "conditions", "unit_ids": None}, "conditions"),
        ({"type": "conditions", "unit_ids": ["a"], "conditions": {"segment": "seg_x"}}, "unit_ids"),
        ({"type": "conditions", "unit_ids": None, "conditions": {"any": [{"segment": "s"}]}},
         "conditions.any.0.segment"),
        ({"type": "conditions", "unit_ids": None, "conditions": {"attribute": "a"}},
         "conditions.operator"),
        ({"type": "list"}, "type"),
    ],
)  # fmt: skip
def test_bad_segments__422(api: ApiClient, project: f.Json, body: f.Json, path: str) -> None:
    payload = {"project_id": project["id"], "key": "s", "name": "S", "unit_ids": ["a"], **body}
    assert f.fields(api.post(api.org("/segments"), json=payload)) == [path]


def test_ids_segment__conditions_patch_refused(api: ApiClient, project: f.Json) -> None:
    segment = f.create_segment(api, project["id"])
    tree = {"attribute": "a", "operator": "exists"}
    patched = api.patch(api.org(f"/segments/{segment['id']}"), json={"conditions": tree})
    assert f.fields(patched) == ["conditions"]


def test_list__type_filter(api: ApiClient, project: f.Json) -> None:
    ids = f.create_segment(api, project["id"])
    tree = {"attribute": "a", "operator": "exists"}
    f.create_segment(api, project["id"], type="conditions", unit_ids=None, conditions=tree)
    listed = api.get(api.org("/segments"), params={"project_id": project["id"], "type": "ids"})
    assert [s["id"] for s in listed.json()["data"]] == [ids["id"]]


def test_delete__members_go_with_it(api: ApiClient, project: f.Json) -> None:
    segment = f.create_segment(api, project["id"], unit_ids=[f"u{i}" for i in range(500)])
    assert api.delete(api.org(f"/segments/{segment['id']}")).status_code == 204
    assert _members(api, segment["id"]).status_code == 404
