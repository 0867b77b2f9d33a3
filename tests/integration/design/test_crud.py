"""The shared contract of every design resource: create, list, get, patch, delete, revisions,
audit, duplicate keys, tenancy and the project reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.integration.design import factories as f
from tests.support.servers import ApiClient, LiveServer, new_org_client


@dataclass(frozen=True)
class Kind:
    path: str
    resource_type: str
    body: Callable[[ApiClient, str, str], f.Json]  # (api, project id, key) -> create body

    def create(self, api: ApiClient, project_id: str, key: str | None = None) -> f.Json:
        return f.post(api, self.path, self.body(api, project_id, key or f.unique("k")))


def _experiment(api: ApiClient, project_id: str, key: str) -> f.Json:
    metric = f.create_metric(api, project_id)
    body = f.experiment_body(project_id, key=key)
    return {**body, "metrics": {"primary": [metric["id"]]}}


def _keyed(path: str, **extra: object) -> Callable[[ApiClient, str, str], f.Json]:
    def body(_api: ApiClient, project_id: str, key: str) -> f.Json:
        return {"project_id": project_id, "key": key, "name": "Name", **extra}

    return body


KINDS = [
    Kind("/exclusion-groups", "exclusion_group", _keyed("/exclusion-groups")),
    Kind("/experiments", "experiment", _experiment),
    Kind("/flags", "flag", _keyed("/flags", type="boolean", default_value=False)),
    Kind(
        "/audiences",
        "audience",
        _keyed("/audiences", conditions={"attribute": "plan", "operator": "eq", "value": "pro"}),
    ),
    Kind("/segments", "segment", _keyed("/segments", type="ids", unit_ids=["a", "b"])),
    Kind("/metrics", "metric", _keyed("/metrics", type="count", event_name="click")),
    Kind(
        "/templates",
        "template",
        _keyed("/templates", body={"variants": f.variants()}),
    ),
]
IDS = [k.resource_type for k in KINDS]


@pytest.fixture(params=KINDS, ids=IDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    value: Kind = request.param
    return value


@pytest.fixture
def project(api: ApiClient) -> f.Json:
    return f.create_project(api)


def test_create_then_get__etag_and_304(api: ApiClient, kind: Kind, project: f.Json) -> None:
    created = kind.create(api, project["id"])
    assert created["project_id"] == project["id"]
    assert created["org_id"] == api.org_id
    got = api.get(api.org(f"{kind.path}/{created['id']}"))
    assert got.status_code == 200
    assert got.json()["data"] == created
    etag = got.headers["etag"]
    assert etag.startswith('W/"')
    again = api.get(api.org(f"{kind.path}/{created['id']}"), headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_list__filters_and_pagination(api: ApiClient, kind: Kind, project: f.Json) -> None:
    other = f.create_project(api)
    ids = [kind.create(api, project["id"], key=f"alpha_{i}")["id"] for i in range(3)]
    ids.append(kind.create(api, project["id"], key="beta")["id"])
    kind.create(api, other["id"], key="alpha_0")

    in_project = api.get(api.org(kind.path), params={"project_id": project["id"]}).json()
    assert [item["id"] for item in in_project["data"]] == ids
    prefixed = api.get(
        api.org(kind.path), params={"project_id": project["id"], "key_prefix": "alpha_"}
    ).json()
    assert [item["id"] for item in prefixed["data"]] == ids[:3]

    params = {"project_id": project["id"], "limit": 3}
    first = api.get(api.org(kind.path), params=params)
    assert first.json()["has_more"] is True
    assert 'rel="next"' in first.headers["link"]
    cursor = first.json()["next_cursor"]
    second = api.get(api.org(kind.path), params={**params, "cursor": cursor}).json()
    assert [item["id"] for item in first.json()["data"] + second["data"]] == ids
    assert second["has_more"] is False


def test_patch__if_match(api: ApiClient, kind: Kind, project: f.Json) -> None:
    created = kind.create(api, project["id"])
    url = api.org(f"{kind.path}/{created['id']}")
    etag = api.get(url).headers["etag"]

    stale = api.patch(url, json={"name": "Renamed"}, headers={"If-Match": 'W/"0000000000000000"'})
    assert stale.status_code == 412
    assert f.code(stale) == "precondition_failed"

    ok = api.patch(url, json={"name": "Renamed"}, headers={"If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["name"] == "Renamed"
    assert ok.json()["data"]["version"] == created["version"] + 1
    assert ok.headers["etag"] != etag


def test_patch__unknown_field_and_null__422(api: ApiClient, kind: Kind, project: f.Json) -> None:
    created = kind.create(api, project["id"])
    url = api.org(f"{kind.path}/{created['id']}")
    assert f.fields(api.patch(url, json={"bogus": 1})) == ["bogus"]
    assert f.fields(api.patch(url, json={"name": None})) == ["name"]
    assert f.fields(api.patch(url, json={"project_id": "prj_x"})) == ["project_id"]


def test_delete__if_match_then_gone(api: ApiClient, kind: Kind, project: f.Json) -> None:
    created = kind.create(api, project["id"])
    url = api.org(f"{kind.path}/{created['id']}")
    assert api.delete(url, headers={"If-Match": 'W/"0000000000000000"'}).status_code == 412
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404


def test_revisions_and_restore__audited(api: ApiClient, kind: Kind, project: f.Json) -> None:
    created = kind.create(api, project["id"])
    url = api.org(f"{kind.path}/{created['id']}")
    assert api.patch(url, json={"name": "Second"}).status_code == 200

    revisions = api.get(f"{url}/revisions").json()["data"]
    assert [r["number"] for r in revisions] == [1, 2]
    assert revisions[0]["snapshot"]["name"] == created["name"]

    restored = api.post(f"{url}/revisions/1/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["data"]["name"] == created["name"]
    assert api.post(f"{url}/revisions/99/restore").status_code == 404

    audit = api.get(api.org("/audit"), params={"resource_id": created["id"]}).json()["data"]
    actions = [event["action"] for event in audit]
    t = kind.resource_type
    assert actions == [f"{t}.created", f"{t}.updated", f"{t}.restored"]
    assert audit[1]["diff"]["name"] == {"from": created["name"], "to": "Second"}


def test_duplicate_key_in_project__409(api: ApiClient, kind: Kind, project: f.Json) -> None:
    kind.create(api, project["id"], key="same")
    other = f.create_project(api)
    kind.create(api, other["id"], key="same")  # keys are unique per project only
    again = api.post(api.org(kind.path), json=kind.body(api, project["id"], "same"))
    assert again.status_code == 409
    assert f.code(again) == "conflict"


def test_another_orgs_ids__404(
    api: ApiClient, live_server: LiveServer, kind: Kind, project: f.Json
) -> None:
    created = kind.create(api, project["id"])
    with new_org_client(live_server) as other:
        url = other.org(f"{kind.path}/{created['id']}")
        assert other.get(url).status_code == 404
        assert other.patch(url, json={"name": "x"}).status_code == 404
        assert other.delete(url).status_code == 404
        assert other.get(f"{url}/revisions").status_code == 404
        # Nor may another org create resources in this org's project.
        body = kind.body(api, project["id"], "stolen")
        assert "project_id" in f.fields(other.post(other.org(kind.path), json=body))
    assert api.get(api.org(f"{kind.path}/{created['id']}")).status_code == 200


def test_create__unknown_project_and_extra_field__422(api: ApiClient, kind: Kind) -> None:
    project = f.create_project(api)
    body = kind.body(api, project["id"], "k")
    missing = api.post(api.org(kind.path), json={**body, "project_id": "prj_nope"})
    assert f.fields(missing) == ["project_id"]
    assert f.fields(api.post(api.org(kind.path), json={**body, "extra": True})) == ["extra"]
    assert "key" in f.fields(api.post(api.org(kind.path), json={**body, "key": "bad key!"}))


def test_archived_project__422(api: ApiClient, kind: Kind) -> None:
    project = f.create_project(api)
    body = kind.body(api, project["id"], "k")
    api.post(api.org(f"/projects/{project['id']}/archive"))
    assert f.fields(api.post(api.org(kind.path), json=body)) == ["project_id"]


def test_scopes__family_read_and_write(
    api: ApiClient, live_server: LiveServer, kind: Kind, project: f.Json
) -> None:
    created = kind.create(api, project["id"])
    family = kind.path.strip("/").replace("-", "_")
    token = api.post(api.org("/tokens"), json={"name": "ro", "scopes": [f"{family}:read"]}).json()[
        "data"
    ]["token"]
    with live_server.client(token) as reader:
        assert reader.get(api.org(f"{kind.path}/{created['id']}")).status_code == 200
        denied = reader.patch(api.org(f"{kind.path}/{created['id']}"), json={"name": "x"})
        assert denied.status_code == 403
        assert denied.json()["error"]["details"]["missingScope"] == f"{family}:write"


def test_idempotent_create__replayed(api: ApiClient, kind: Kind, project: f.Json) -> None:
    body = kind.body(api, project["id"], "idem")
    headers = {"Idempotency-Key": f.unique("key")}
    first = api.post(api.org(kind.path), json=body, headers=headers)
    second = api.post(api.org(kind.path), json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json() == second.json()


def test_project_with_resources__cannot_be_deleted(api: ApiClient, kind: Kind) -> None:
    project = f.create_project(api)
    created = kind.create(api, project["id"])
    refused = api.delete(api.org(f"/projects/{project['id']}"))
    assert refused.status_code == 409
    assert api.delete(api.org(f"{kind.path}/{created['id']}")).status_code == 204
    metrics = api.get(api.org("/metrics"), params={"project_id": project["id"]}).json()["data"]
    for metric in metrics:  # an experiment's body made one
        assert api.delete(api.org(f"/metrics/{metric['id']}")).status_code == 204
    assert api.delete(api.org(f"/projects/{project['id']}")).status_code == 204
