"""Helpers of the evaluation API tests: SDK keys, ABC signatures, waiting for a rebuild."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import httpx

from avsb.server.runtime import Runtime
from tests.integration.design import factories as f
from tests.support.servers import ApiClient, LiveServer

Json = dict[str, Any]


@dataclass(frozen=True)
class SdkKey:
    id: str
    secret: str
    project_id: str


def create_sdk_key(api: ApiClient, project_id: str, name: str = "web") -> SdkKey:
    r = api.post(api.org("/tokens"), json={"name": name, "kind": "sdk", "project_id": project_id})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    return SdkKey(data["id"], data["token"], project_id)


def signature(secret: str, ak: str, et: str) -> str:
    return hashlib.md5((secret + ak + et).encode()).hexdigest()


def signed(key: SdkKey, et: int | None = None) -> dict[str, str]:
    """The ABC signature headers of `key` at time `et` (default: now)."""
    stamp = str(int(time.time()) if et is None else et)
    return {"X-Ak": key.id, "X-Et": stamp, "X-Es": signature(key.secret, key.id, stamp)}


def abc(client: httpx.Client, route: str, key: SdkKey, body: Json) -> httpx.Response:
    return client.post(f"/abc/{route}", json=body, headers=signed(key))


def bearer(key: SdkKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.secret}"}


def runtime(server: LiveServer) -> Runtime:
    rt: Runtime = server.app.state.runtime
    return rt


def settle(server: LiveServer) -> None:
    """Wait until the in-process server compiled every config change it was told about
    (returns as soon as it has; the bound only matters on a loaded box: a CI run beside a
    PostgreSQL server and the other xdist worker once took more than 10 s here)."""
    assert runtime(server).evaluation.cache.wait_idle(30.0)


def keyed_project(org: ApiClient) -> SdkKey:
    """A new, empty project of `org` with an SDK key, its config compiled."""
    key = create_sdk_key(org, f.create_project(org)["id"])
    settle(org.server)
    return key
