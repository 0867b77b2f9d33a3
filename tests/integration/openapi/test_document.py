"""The OpenAPI document is complete: security schemes, error answers, an example on every
request body (valid against its schema), the evaluation routes served outside FastAPI
(each exists and answers as documented), and ReDoc/Swagger served without a CDN."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from avsb.server.openapi import ERROR_STATUSES, EVALUATION_PATHS, METHODS
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, settle, signed
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

Json = dict[str, Any]


@pytest.fixture(scope="module")
def doc(live_server: LiveServer) -> Json:
    r = httpx.get(f"{live_server.url}/openapi.json", timeout=120)
    assert r.status_code == 200
    body: Json = r.json()
    return body


def operations(doc: Json) -> Iterator[tuple[str, str, Json]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def validate(doc: Json, schema: Json, instance: Any) -> None:
    """``instance`` against an OpenAPI 3.1 schema whose refs point into ``doc``."""
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(instance)


def test_security_schemes__bearer_api_key_and_session_cookie(doc: Json) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-API-Key")
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "avsb_session")
    me = doc["paths"]["/api/me"]["get"]
    assert {next(iter(s)) for s in me["security"]} == {"bearer", "apiKey", "session"}
    assert doc["paths"]["/health"]["get"]["security"] == []


def test_security__what_is_documented_holds(doc: Json, live_server: LiveServer) -> None:
    """Public operations answer without a token; a protected GET without one is 401."""
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        for path, method, op in operations(doc):
            if method != "get" or "{" in path:
                continue
            status = client.get(path).status_code
            if op["security"]:
                assert status == 401, path
            else:
                assert status in (200, 503), path


def test_error_answers__listed_per_authenticated_operation(doc: Json) -> None:
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    checked = 0
    for path, method, op in operations(doc):
        if not op["security"] or path in EVALUATION_PATHS:
            continue
        for status in ERROR_STATUSES:
            answer = op["responses"].get(status)
            assert answer is not None, (method, path, status)
            assert answer["content"]["application/json"]["schema"] == ref, (method, path)
        checked += 1
    assert checked > 50
    envelope = doc["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]


def test_request_bodies__every_one_has_an_example_valid_against_its_schema(doc: Json) -> None:
    seen = 0
    for path, method, op in operations(doc):
        body = op.get("requestBody")
        if body is None:
            continue
        for media, content in body["content"].items():
            assert "example" in content, (method, path, media)
            validate(doc, content["schema"], content["example"])
            seen += 1
    assert seen >= 45


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> Iterator[tuple[ApiClient, SdkKey]]:
    with new_org_client(live_server) as api:
        project = f.create_project(api, key="shop")
        f.create_flag(api, project["id"], key="new_checkout", type="boolean", default_value=False)
        variants: list[dict[str, Any]] = [
            {"key": k, "weight": 50, "params": {}} for k in ("control", "green")
        ]
        f.create_experiment(api, project["id"], key="checkout_button", variants=variants)
        key = create_sdk_key(api, project["id"])
        settle(live_server)
        yield api, key


def test_evaluation_routes__exist_and_answer_as_documented(
    doc: Json, live_server: LiveServer, sdk: tuple[ApiClient, SdkKey]
) -> None:
    """Each hand-written path item: its example request gets a documented status and a body
    valid against that status's schema."""
    _, key = sdk
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        for path, item in EVALUATION_PATHS.items():
            for method, op in item.items():
                assert doc["paths"][path][method] == op
                content = op.get("requestBody", {}).get("content", {}).get("application/json")
                headers = signed(key) if path.startswith("/abc/") else bearer(key)
                url = path.replace("{key}", "new_checkout")
                r = client.request(method, url, json=content and content["example"],
                                   headers=headers)  # fmt: skip
                assert r.status_code == 200, (path, r.text)
                schema = op["responses"]["200"]["content"]["application/json"]["schema"]
                validate(doc, schema, r.json())
                if path.startswith("/abc/"):
                    assert r.json()["ret_code"] == 100, r.text
                if path == "/api/sdk/exposures":  # the example's experiment exists
                    assert r.json()["data"]["rejected"] == [], r.text
                unsigned = client.request(method, url, json=content and content["example"])
                status = str(unsigned.status_code)
                assert status in op["responses"], (path, status)
                answer = op["responses"][status]["content"]["application/json"]["schema"]
                validate(doc, answer, unsigned.json())


def test_redoc_and_swagger__served_from_installed_packages(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        page = client.get("/redoc")
        assert page.status_code == 200
        assert 'src="/docs/static/redoc/redoc.standalone.js"' in page.text
        assert "cdn" not in page.text.lower()
        script = client.get("/docs/static/redoc/redoc.standalone.js")
        assert script.status_code == 200
        assert len(script.content) > 500_000
        assert "javascript" in script.headers["content-type"]
        assert "'self'" in page.headers["content-security-policy"]
        docs = client.get("/docs")
        assert docs.status_code == 200
        assert "cdn" not in docs.text.lower()
        bundle = client.get("/docs/static/swagger/swagger-ui-bundle.js")
        assert bundle.status_code == 200
        assert b"3.1.0" in bundle.content  # Swagger UI 5: renders OpenAPI 3.1


CONFIG = """
[generation]
max-examples = {examples}

[headers]
Authorization = "Bearer ${{AVSB_ST_TOKEN}}"
"""


def test_schemathesis__evaluation_routes(servers: ServerFactory, tmp_path: Path,
                                         sdk: tuple[ApiClient, SdkKey],
                                         live_server: LiveServer) -> None:  # fmt: skip
    """Generated requests to the evaluation routes: no 5xx, answers as documented."""
    _, key = sdk
    config = tmp_path / "schemathesis.toml"
    examples = os.environ.get("AVSB_SCHEMATHESIS_EXAMPLES", "15")
    config.write_text(CONFIG.format(examples=examples))
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
            f"{live_server.url}/openapi.json", "--include-tag", "evaluation",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance", "--workers", "1",
            "--phases", "examples,coverage,fuzzing", "--seed", "20261202",
            "--suppress-health-check", "all",
        ],
        env={**os.environ, "AVSB_ST_TOKEN": key.secret},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
