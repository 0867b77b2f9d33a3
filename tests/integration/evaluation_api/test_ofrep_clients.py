"""The official OpenFeature OFREP clients against a live AvsB: Python (PyPI
`openfeature-provider-ofrep`), Node (`@openfeature/server-sdk` + `@openfeature/ofrep-provider`)
and, on a page served from another origin in headless Chromium, the web provider
(`@openfeature/web-sdk` + `@openfeature/ofrep-web-provider`); every flag type, its value and
reason; an edit reaching the Python and Node providers (they evaluate remotely on each call);
and (browser) CORS and 304s on unchanged polls. The browser provider following an edit through
the event stream: tests/integration/realtime/test_browser_stream.py."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openfeature import api as openfeature
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, runtime, settle
from tests.support import browser
from tests.support.npm import node, node_modules
from tests.support.servers import ApiClient, LiveServer

Json = dict[str, Any]
NODE_SCRIPT = Path(__file__).with_name("ofrep_node_client.mjs")
CONTEXT = {"targetingKey": "user_1", "country": "US"}
# (name, OpenFeature type, code default, expected value, expected reason)
EXPECTED: list[tuple[str, str, Any, Any, str]] = [
    ("boolean", "boolean", False, True, "TARGETING_MATCH"),
    ("boolean_default", "boolean", True, False, "TARGETING_MATCH"),
    ("string", "string", "fallback", "hello", "STATIC"),
    ("integer", "integer", 1, 20, "STATIC"),
    ("float", "float", 0.5, 9.99, "STATIC"),
    ("float_whole", "float", 0.5, 3.0, "TARGETING_MATCH"),
    ("object", "object", {}, {"primary": "#123456", "sizes": [1, 2]}, "STATIC"),
    ("disabled", "string", "fallback", "off", "DISABLED"),
]


@pytest.fixture(scope="module")
def project(org: ApiClient, live_server: LiveServer) -> Json:
    pid = f.create_project(org)["id"]
    us = f.create_audience(org, pid)
    de = {"all": [{"attribute": "country", "operator": "in", "values": ["DE"]}]}
    specs: dict[str, Json] = {
        "boolean": {"type": "boolean", "default_value": False,
                    "rules": [{"audience_id": us["id"], "value": True}]},
        "boolean_default": {"type": "boolean", "default_value": False,
                            "rules": [{"conditions": de, "value": True}]},
        "string": {"type": "string", "default_value": "hello"},
        "integer": {"type": "number", "default_value": 20},
        "float": {"type": "number", "default_value": 9.99},
        "float_whole": {"type": "number", "default_value": 3,
                        "rules": [{"conditions": de, "value": 4.5}]},
        "object": {"type": "json", "default_value": {"primary": "#123456", "sizes": [1, 2]}},
        "disabled": {"type": "string", "default_value": "off", "enabled": False},
        "null": {"type": "json", "default_value": None},
    }  # fmt: skip
    keys = {name: f.create_flag(org, pid, key=f.unique(name), **body)["key"]
            for name, body in specs.items()}  # fmt: skip
    settle(live_server)
    return {"id": pid, "flags": keys, "key": create_sdk_key(org, pid)}


def _check_all(results: Json, flags: Json, *, js: bool) -> None:
    for name, of_type, _default, value, reason in EXPECTED:
        got = results[flags[name]] if flags[name] in results else results[name]
        assert (got["value"], got["reason"], got["errorCode"]) == (value, reason, None), name
        if of_type == "float" and not js:
            assert isinstance(got["value"], float), name
        assert got["metadata"]["revision"], name


def test_python_provider__every_type(project: Json, live_server: LiveServer) -> None:
    key: SdkKey = project["key"]
    domain = f"avsb-{uuid.uuid4().hex[:8]}"
    provider = OFREPProvider(live_server.url, headers_factory=lambda: bearer(key))
    openfeature.set_provider_and_wait(provider, domain)
    try:
        client = openfeature.get_client(domain)
        context = EvaluationContext(targeting_key="user_1", attributes={"country": "US"})
        readers: dict[str, Callable[..., Any]] = {
            "boolean": client.get_boolean_details, "string": client.get_string_details,
            "integer": client.get_integer_details, "float": client.get_float_details,
            "object": client.get_object_details,
        }  # fmt: skip
        results: Json = {}
        for name, of_type, default, _value, _reason in EXPECTED:
            d = readers[of_type](project["flags"][name], default, context)
            results[name] = {"value": d.value, "reason": d.reason, "metadata": d.flag_metadata,
                             "errorCode": d.error_code}  # fmt: skip
        code_default = client.get_object_details(project["flags"]["null"], {"c": 1}, context)
    finally:
        provider.session.close()
        openfeature.clear_providers()
    _check_all(results, project["flags"], js=False)
    # a null value is answered without `value` (the spec's code default): the code's default wins
    assert (code_default.value, code_default.error_code) == ({"c": 1}, None)


def _js_checks(flags: Json) -> list[Json]:
    kinds = {"integer": "number", "float": "number"}
    return [{"name": name, "flag": flags[name], "type": kinds.get(t, t), "default": default}
            for name, t, default, _v, _r in EXPECTED]  # fmt: skip


def test_node_provider__every_type(project: Json, live_server: LiveServer) -> None:
    key: SdkKey = project["key"]
    anonymous = {"name": "anonymous", "flag": project["flags"]["boolean"], "type": "boolean",
                 "default": False, "context": {"country": "US"}}  # fmt: skip
    config = {"baseUrl": live_server.url, "key": key.secret, "context": CONTEXT,
              "checks": [*_js_checks(project["flags"]), anonymous]}  # fmt: skip
    done = subprocess.run(
        [node(), str(NODE_SCRIPT), str(node_modules()), json.dumps(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    _check_all(results, project["flags"], js=True)
    anonymous = results["anonymous"]  # no targetingKey: a rule on another attribute still applies
    assert (anonymous["value"], anonymous["reason"], anonymous["errorCode"]) == (
        True, "TARGETING_MATCH", None,
    )  # fmt: skip


def _wait(predicate: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def _bulk_304s(server: LiveServer) -> float:
    labels = (("method", "POST"), ("route", "/ofrep/v1/evaluate/flags"), ("status", "304"))
    return runtime(server).metrics.counter("avsb_http_requests_total", labels)


def test_web_provider__other_origin__every_type_and_304_polls(
    project: Json, org: ApiClient, live_server: LiveServer, tmp_path: Path
) -> None:
    with browser.StaticSite({}) as site:
        r = org.post(org.org("/tokens"), json={"name": "page", "kind": "sdk",
                     "project_id": project["id"], "allowed_origins": [site.origin]})  # fmt: skip
        assert r.status_code == 201, r.text
        secret = r.json()["data"]["token"]

        def preflight_allowed() -> bool:
            with live_server.client() as c:
                answer = c.options("/ofrep/v1/evaluate/flags", headers={
                    "Origin": site.origin, "Access-Control-Request-Method": "POST"})  # fmt: skip
            allowed: str | None = answer.headers.get("access-control-allow-origin")
            return allowed == site.origin

        _wait(preflight_allowed, 5, "the key's origin to be loaded")
        site.files.update(browser.ofrep_web_page(
            tmp_path, base_url=live_server.url, sdk_key=secret,
            checks=_js_checks(project["flags"]), context=CONTEXT, poll_ms=300,
        ))  # fmt: skip
        before = _bulk_304s(live_server)
        with browser.chromium() as driver:
            driver.get(site.origin + "/")
            settled = "const a = window.avsb; return a && (a.ready || a.error) ? a : null"
            state = _wait(lambda: driver.execute_script(settled), 30, "the page to evaluate")
            assert state["error"] is None, state["error"]
            _wait(lambda: driver.execute_script("return window.avsb.statuses")
                  .count(304) >= 2, 15, "two 304 polls")  # fmt: skip
            state = driver.execute_script("return window.avsb")
            errors = browser.console_errors(driver)
            browser.screenshot(driver, "ofrep_web_provider")
    assert site.origin != live_server.url
    _check_all(state["results"], project["flags"], js=True)
    assert state["statuses"][0] == 200
    assert set(state["statuses"]) == {200, 304}
    assert state["changes"] == 0
    assert _bulk_304s(live_server) - before >= 2
    assert errors == []


def test_python_provider__sees_an_edit_within_1s(org: ApiClient, live_server: LiveServer) -> None:
    """A server-side provider evaluates remotely on every call: the first evaluation after an
    edit (within a second: the config is recompiled on commit) answers the new value."""
    pid = f.create_project(org)["id"]
    flag = f.create_flag(org, pid, key=f.unique("edited"), type="string", default_value="before")
    key = create_sdk_key(org, pid)
    settle(live_server)
    domain = f"avsb-{uuid.uuid4().hex[:8]}"
    provider = OFREPProvider(live_server.url, headers_factory=lambda: bearer(key))
    openfeature.set_provider_and_wait(provider, domain)
    try:
        client = openfeature.get_client(domain)
        context = EvaluationContext(targeting_key="user_1")
        assert client.get_string_value(flag["key"], "x", context) == "before"
        r = org.patch(org.org(f"/flags/{flag['id']}"), json={"default_value": "after"})
        assert r.status_code == 200, r.text
        edited_at = time.monotonic()
        _wait(lambda: client.get_string_value(flag["key"], "x", context) == "after", 1.0, "edit")
        assert time.monotonic() - edited_at < 1.0
    finally:
        provider.session.close()
        openfeature.clear_providers()


def test_node_provider__sees_an_edit(org: ApiClient, live_server: LiveServer) -> None:
    """The Node server provider, started after an edit committed, answers the new value."""
    pid = f.create_project(org)["id"]
    flag = f.create_flag(org, pid, key=f.unique("edited"), type="string", default_value="before")
    key = create_sdk_key(org, pid)
    settle(live_server)

    def evaluate() -> Any:
        check = {"name": "edited", "flag": flag["key"], "type": "string", "default": "x"}
        config = {"baseUrl": live_server.url, "key": key.secret, "context": CONTEXT,
                  "checks": [check]}  # fmt: skip
        done = subprocess.run(
            [node(), str(NODE_SCRIPT), str(node_modules()), json.dumps(config)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["edited"]["value"]

    assert evaluate() == "before"
    r = org.patch(org.org(f"/flags/{flag['id']}"), json={"default_value": "after"})
    assert r.status_code == 200, r.text
    assert evaluate() == "after"
