"""Small typed factories for the design resources: each posts a valid body and returns data."""

from __future__ import annotations

import secrets
from typing import Any

from tests.support.servers import ApiClient

Json = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(3)}"


def post(api: ApiClient, path: str, body: Json) -> Json:
    r = api.post(api.org(path), json=body)
    assert r.status_code == 201, r.text
    data: Json = r.json()["data"]
    return data


def create_project(api: ApiClient, **overrides: Any) -> Json:
    return post(api, "/projects", {"key": unique("prj"), "name": "Project", **overrides})


def create_group(api: ApiClient, project_id: str, **overrides: Any) -> Json:
    body = {"project_id": project_id, "key": unique("layer"), "name": "Layer", **overrides}
    return post(api, "/exclusion-groups", body)


def create_metric(api: ApiClient, project_id: str, **overrides: Any) -> Json:
    body = {
        "project_id": project_id,
        "key": unique("purchase"),
        "name": "Purchase",
        "type": "binary",
        "event_name": "purchase",
        **overrides,
    }
    return post(api, "/metrics", body)


def create_segment(api: ApiClient, project_id: str, **overrides: Any) -> Json:
    body = {
        "project_id": project_id,
        "key": unique("vip"),
        "name": "VIPs",
        "type": "ids",
        "unit_ids": ["u1", "u2"],
        **overrides,
    }
    return post(api, "/segments", body)


def create_audience(api: ApiClient, project_id: str, **overrides: Any) -> Json:
    body = {
        "project_id": project_id,
        "key": unique("us"),
        "name": "US",
        "conditions": {"all": [{"attribute": "country", "operator": "in", "values": ["US"]}]},
        **overrides,
    }
    return post(api, "/audiences", body)


def variants(*params: Json) -> list[Json]:
    """Two (or more) variants with even weights and the given params."""
    chosen = list(params) or [{"color": "red"}, {"color": "blue"}]
    weight = 100 / len(chosen)
    keys = ["control", *(f"treatment_{i}" for i in range(1, len(chosen)))]
    return [{"key": k, "weight": weight, "params": p} for k, p in zip(keys, chosen, strict=True)]


def experiment_body(project_id: str, **overrides: Any) -> Json:
    return {
        "project_id": project_id,
        "key": unique("exp"),
        "name": "Button colour",
        "hypothesis": "Blue converts better",
        "variants": variants(),
        **overrides,
    }


def create_experiment(api: ApiClient, project_id: str, **overrides: Any) -> Json:
    return post(api, "/experiments", experiment_body(project_id, **overrides))


def create_flag(api: ApiClient, project_id: str, **overrides: Any) -> Json:
    body = {
        "project_id": project_id,
        "key": unique("colour"),
        "type": "string",
        "default_value": "red",
        **overrides,
    }
    return post(api, "/flags", body)


def create_template(api: ApiClient, project_id: str, **overrides: Any) -> Json:
    body = {
        "project_id": project_id,
        "key": unique("tpl"),
        "name": "Two-arm test",
        "body": {"hypothesis": "h", "variants": variants()},
        **overrides,
    }
    return post(api, "/templates", body)


def act(api: ApiClient, experiment_id: str, action: str, body: Json | None = None) -> Json:
    r = api.post(api.org(f"/experiments/{experiment_id}/{action}"), json=body)
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def fields(response: Any) -> list[str]:
    """The field paths of a 422 answer."""
    assert response.status_code == 422, response.text
    return [f["path"] for f in response.json()["error"]["details"]["fields"]]


def code(response: Any) -> str:
    value: str = response.json()["error"]["code"]
    return value
