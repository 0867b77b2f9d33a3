"""`avsb_sdk` without a server: its surface, its imports, and both clients over MockTransport."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import avsb_sdk as sdk
from avsb_sdk import ApiError, Client, ManagementClient, NotReadyError
from tests.support.imports import forbidden_imports

CONFIG: dict[str, Any] = {
    "schema_version": 1,
    "revision": 3,
    "project_id": "prj_1",
    "project_key": "shop",
    "holdout_salt": "prj_1:holdout",
    "experiments": [
        {"id": "exp_1", "key": "button", "salt": "s_button", "status": "running",
         "variants": [{"key": "control", "group_id": 1, "weight": 1, "params": {"c": "red"}},
                      {"key": "blue", "group_id": 2, "weight": 1, "params": {"c": "blue"}}]},
    ],
    "flags": [
        {"key": "colour", "type": "string", "salt": "s_colour", "default_value": "grey",
         "experiment_id": "exp_1", "experiment_param": "c"},
    ],
}  # fmt: skip


class TestSurface:
    def test_all__pinned(self) -> None:
        assert sdk.__all__ == [
            "ApiError",
            "Client",
            "ManagementClient",
            "NotReadyError",
            "SdkError",
        ]

    def test_modules__import_evaluation_httpx_and_stdlib_only(self) -> None:
        def allowed(name: str) -> bool:
            top = name.split(".")[0]
            own = name.startswith(("avsb_sdk.evaluation", "avsb_sdk"))
            return own or top == "httpx" or top in sys.stdlib_module_names

        assert forbidden_imports(Path(sdk.__file__).parent, allowed) == []


class ConfigServer:
    """Serves CONFIG with an ETag; counts requests and 304s."""

    def __init__(self) -> None:
        self.revision, self.requests, self.not_modified = 3, 0, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert request.headers["authorization"] == "Bearer avsb_sdk_x"
        etag = f'W/"{self.revision}"'
        if request.headers.get("if-none-match") == etag:
            self.not_modified += 1
            return httpx.Response(304, headers={"etag": etag})
        body = json.dumps({"data": {**CONFIG, "revision": self.revision}})
        return httpx.Response(200, content=body, headers={"etag": etag})


class TestClient:
    def test_before_refresh__not_ready(self) -> None:
        client = Client("http://avsb", "avsb_sdk_x", transport=httpx.MockTransport(ConfigServer()))
        with pytest.raises(NotReadyError):
            client.evaluate("u1")
        assert client.revision is None
        client.close()

    def test_refresh__etag_then_304_then_new_revision(self) -> None:
        server = ConfigServer()
        client = Client("http://avsb", "avsb_sdk_x", transport=httpx.MockTransport(server))
        assert client.refresh() is True
        assert client.refresh() is False
        assert server.not_modified == 1
        server.revision = 4
        assert client.refresh() is True
        assert client.revision == 4
        client.close()

    def test_answers__abc_and_typed_shapes(self) -> None:
        transport = httpx.MockTransport(ConfigServer())
        with Client("http://avsb", "avsb_sdk_x", transport=transport) as client:
            layer = client.get_experiments("u1")["button"]
            assert layer["experiment_key"] == "button"
            assert layer["params"]["c"] == client.get_flag("colour", "u1")
            flags = client.get_feature_flags("u1", ["colour", "missing"])
            assert set(flags) == {"colour"}
            assert flags["colour"]["relative_experiment"]["exp_key"] == "button"
            assert client.get_flag("missing", "u1", default=7) == 7
            evaluation = client.evaluate("u1")
            assert evaluation["revision"] == 3
            assert evaluation["flags"]["colour"]["reason"] == "SPLIT"

    def test_refused__api_error(self) -> None:
        def deny(request: httpx.Request) -> httpx.Response:
            error = {"code": "unauthorized", "message": "bad key", "details": {},
                     "request_id": "req_1"}  # fmt: skip
            return httpx.Response(401, json={"error": error})

        client = Client("http://avsb", "avsb_sdk_x", transport=httpx.MockTransport(deny))
        with pytest.raises(ApiError) as caught:
            client.start()
        assert (caught.value.status_code, caught.value.code) == (401, "unauthorized")
        assert caught.value.request_id == "req_1"
        client.close()


class TestManagementClient:
    def test_paginate__follows_next_cursor(self) -> None:
        items = [{"id": f"prj_{i}"} for i in range(7)]
        seen: list[dict[str, str]] = []

        def pages(request: httpx.Request) -> httpx.Response:
            params = dict(request.url.params)
            seen.append(params)
            start = int(params.get("cursor", "0"))
            end = start + int(params["limit"])
            more = end < len(items)
            page = {"data": items[start:end], "has_more": more}
            return httpx.Response(200, json={**page, "next_cursor": str(end) if more else None})

        with ManagementClient("http://avsb", "t", transport=httpx.MockTransport(pages)) as api:
            got = list(api.list_projects("org_1", limit=3))
        assert got == items
        assert [p.get("cursor") for p in seen] == [None, "3", "6"]

    def test_filters__none_left_out(self) -> None:
        seen: list[httpx.URL] = []

        def one_page(request: httpx.Request) -> httpx.Response:
            seen.append(request.url)
            return httpx.Response(200, json={"data": [], "has_more": False, "next_cursor": None})

        with ManagementClient("http://avsb", "t", transport=httpx.MockTransport(one_page)) as api:
            assert list(api.list_experiments("org_1", status="running")) == []
        assert seen[0].path == "/api/orgs/org_1/experiments"
        assert dict(seen[0].params) == {"status": "running", "limit": "100"}
