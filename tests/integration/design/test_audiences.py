"""Audience rule trees: every operator, nesting, limits, segment membership, field paths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def _create(api: ApiClient, project: f.Json, conditions: Any) -> Any:
    body = {
        "project_id": project["id"],
        "key": f.unique("aud"),
        "name": "A",
        "conditions": conditions,
    }
    return api.post(api.org("/audiences"), json=body)


def _leaf(operator: str, **rest: Any) -> f.Json:
    return {"attribute": "x", "operator": operator, **rest}


VALID = [
    _leaf("eq", value="a"),
    _leaf("neq", value=1),
    _leaf("in", values=["US", "CA"]),
    _leaf("not_in", values=[1, 2]),
    _leaf("gt", value="18"),
    _leaf("gte", value=18),
    _leaf("lt", value=2.5),
    _leaf("lte", value="-1e3"),
    _leaf("contains", value="bot"),
    _leaf("regex", value="^[a-z]+@example\\.com$"),
    _leaf("semver_eq", value="1.2.3"),
    _leaf("semver_gt", value="1.2.3-beta.1"),
    _leaf("semver_gte", value="2.0.0"),
    _leaf("semver_lt", value="10.0.0"),
    _leaf("semver_lte", value="0.1.0"),
    _leaf("exists"),
    _leaf("exists", value=False),
]


def test_every_operator__accepted_in_nested_all_any_not(api: ApiClient, project: f.Json) -> None:
    tree = {"all": [{"any": VALID[:9]}, {"not": {"any": VALID[9:]}}]}
    created = _create(api, project, tree)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["conditions"] == tree


@pytest.mark.parametrize(
    ("tree", "path"),
    [
        (_leaf("like", value="a"), "conditions.operator"),
        ({"all": [_leaf("eq", value="a"), {"attribute": "", "operator": "eq", "value": "a"}]},
         "conditions.all.1.attribute"),
        ({"any": [_leaf("in", value="US")]}, "conditions.any.0"),
        ({"all": [{"any": [_leaf("gt", value="eighteen")]}]}, "conditions.all.0.any.0"),
        (_leaf("semver_gt", value="one"), "conditions"),
        (_leaf("regex", value="(unclosed"), "conditions.value"),
        (_leaf("regex", value="^(?=lookahead)"), "conditions.value"),
        (_leaf("regex", value="a" * 501), "conditions.value"),
        (_leaf("eq", value=[1]), "conditions"),
        (_leaf("eq", value="a", extra=1), "conditions"),
        ({"all": "x"}, "conditions.all"),
        ({"maybe": []}, "conditions"),
        ({"all": [], "any": []}, "conditions"),
        ({"not": [_leaf("exists")]}, "conditions.not"),
        ({"segment": ""}, "conditions.segment"),
        (_leaf("exists", value="yes"), "conditions.value"),
    ],
)  # fmt: skip
def test_bad_trees__422_at_path(api: ApiClient, project: f.Json, tree: Any, path: str) -> None:
    assert f.fields(_create(api, project, tree)) == [path]


def _nested(levels: int) -> f.Json:
    tree: f.Json = _leaf("exists")
    for i in range(levels):
        tree = {"all": [tree]} if i % 2 else {"not": tree}
    return tree


def _path_at(tree: f.Json, depth: int) -> str:
    """The field path of the group ``depth`` levels below the root of a ``_nested`` tree."""
    path = "conditions"
    for _ in range(depth):
        if "not" in tree:
            tree, path = tree["not"], f"{path}.not"
        else:
            tree, path = tree["all"][0], f"{path}.all.0"
    return path


def test_nesting__ten_levels_ok_eleven_refused(api: ApiClient, project: f.Json) -> None:
    assert _create(api, project, _nested(10)).status_code == 201
    eleven = _nested(11)
    assert f.fields(_create(api, project, eleven)) == [_path_at(eleven, 10)]
    deep = _nested(400)
    assert f.fields(_create(api, project, deep)) == [_path_at(deep, 10)]


def test_regex__500_chars_ok(api: ApiClient, project: f.Json) -> None:
    assert _create(api, project, _leaf("regex", value="a" * 500)).status_code == 201


def test_segments__same_project_only(api: ApiClient, project: f.Json) -> None:
    mine = f.create_segment(api, project["id"])
    theirs = f.create_segment(api, f.create_project(api)["id"])
    ok = _create(api, project, {"any": [_leaf("exists"), {"segment": mine["id"]}]})
    assert ok.status_code == 201
    for segment_id in (theirs["id"], "seg_nope"):
        tree = {"any": [_leaf("exists"), {"segment": segment_id}]}
        assert f.fields(_create(api, project, tree)) == ["conditions.any.1.segment"]
    # A segment used by an audience cannot be deleted.
    refused = api.delete(api.org(f"/segments/{mine['id']}"))
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["used_by"] == [ok.json()["data"]["id"]]


def test_patch__conditions_revalidated(api: ApiClient, project: f.Json) -> None:
    audience = f.create_audience(api, project["id"])
    url = api.org(f"/audiences/{audience['id']}")
    assert f.fields(api.patch(url, json={"conditions": {"all": [{}]}})) == ["conditions.all.0"]
    new = {"attribute": "age", "operator": "gte", "value": "18"}
    assert api.patch(url, json={"conditions": new}).json()["data"]["conditions"] == new


def test_in_use_by_experiment__cannot_be_deleted(api: ApiClient, project: f.Json) -> None:
    audience = f.create_audience(api, project["id"])
    f.create_experiment(api, project["id"], audience_id=audience["id"])
    refused = api.delete(api.org(f"/audiences/{audience['id']}"))
    assert refused.status_code == 409
    assert f.code(refused) == "conflict"


def test_absurdly_deep_json__structured_4xx(api: ApiClient, project: f.Json) -> None:
    depth = 100_000
    tree = '{"not": ' * depth + "}" * depth
    raw = f'{{"project_id": "{project["id"]}", "key": "deep", "name": "D", "conditions": {tree}}}'
    r = api.post(api.org("/audiences"), content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500
    assert "error" in r.json()
