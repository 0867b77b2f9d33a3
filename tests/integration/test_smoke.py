from __future__ import annotations

from tests.support.servers import ApiClient


def test_project_roundtrip__create_then_get__same_data(api: ApiClient) -> None:
    created = api.post(api.org("/projects"), json={"key": "checkout", "name": "Checkout"})
    assert created.status_code == 201
    got = api.get(api.org(f"/projects/{created.json()['data']['id']}"))
    assert got.json()["data"]["key"] == "checkout"
