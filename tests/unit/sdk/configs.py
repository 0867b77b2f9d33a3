"""A small project config and a fake `GET /api/sdk/config` for the SDK's unit tests."""

from __future__ import annotations

import json
from typing import Any

import httpx

CONFIG: dict[str, Any] = {
    "schema_version": 1,
    "revision": 3,
    "project_id": "prj_1",
    "project_key": "shop",
    "holdout_salt": "prj_1:holdout",
    "layers": [{"key": "checkout", "salt": "s_checkout", "allocations": {"exp_2": [[0, 10000]]}}],
    "experiments": [
        {"id": "exp_1", "key": "button", "salt": "s_button", "status": "running",
         "variants": [{"key": "control", "group_id": 1, "weight": 1, "params": {"c": "red"}},
                      {"key": "blue", "group_id": 2, "weight": 1, "params": {"c": "blue"}}]},
        {"id": "exp_2", "key": "price", "salt": "s_price", "status": "running",
         "layer_key": "checkout",
         "variants": [{"key": "low", "group_id": 3, "weight": 1, "params": {"p": "9"}},
                      {"key": "high", "group_id": 4, "weight": 1, "params": {"p": "12"}}]},
    ],
    "flags": [
        {"key": "colour", "type": "string", "salt": "s_colour", "default_value": "grey",
         "experiment_id": "exp_1", "experiment_param": "c"},
        {"key": "dark_mode", "type": "boolean", "salt": "s_dark", "default_value": False,
         "rules": [{"conditions": {"attribute": "plan", "operator": "eq", "value": "pro"},
                    "rollout_percent": 100, "value": True}]},
        {"key": "limit", "type": "number", "salt": "s_limit", "default_value": 25},
        {"key": "ratio", "type": "number", "salt": "s_ratio", "default_value": 0.5},
        {"key": "menu", "type": "json", "salt": "s_menu", "default_value": {"items": [1, 2]}},
        {"key": "off", "type": "boolean", "salt": "s_off", "default_value": True,
         "enabled": False},
    ],
}  # fmt: skip


class ConfigServer:
    """Serves CONFIG with an ETag; counts requests and 304s; `revision` may be bumped."""

    def __init__(self) -> None:
        self.revision, self.requests, self.not_modified = 3, 0, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/sdk/config":
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        self.requests += 1
        assert request.headers["authorization"] == "Bearer avsb_sdk_x"
        etag = f'W/"{self.revision}"'
        if request.headers.get("if-none-match") == etag:
            self.not_modified += 1
            return httpx.Response(304, headers={"etag": etag})
        body = json.dumps({"data": {**CONFIG, "revision": self.revision}})
        return httpx.Response(200, content=body, headers={"etag": etag})
