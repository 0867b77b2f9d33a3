"""OFREP, through the PyPI `openfeature-sdk` and its `openfeature-provider-ofrep`, unchanged."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api as openfeature
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from avsb_sdk import Client
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, settle
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client


@pytest.fixture(scope="module")
def flags(org: ApiClient, live_server: LiveServer) -> f.Json:
    """Flags of every type and reason, and the SDK key of their project."""
    pid = f.create_project(org)["id"]
    us = f.create_audience(org, pid)
    prices = f.variants({"price": "7"}, {"price": "12.5"})
    experiment = f.create_experiment(org, pid, traffic_percent=100, variants=prices)
    f.act(org, experiment["id"], "start")
    specs: dict[str, f.Json] = {
        "us_only": {"type": "boolean", "default_value": False,
                    "rules": [{"audience_id": us["id"], "value": True}]},
        "greeting": {"type": "string", "default_value": "hello"},
        "price": {"type": "number", "default_value": 9.99,
                  "experiment_id": experiment["id"], "experiment_param": "price"},
        "max_items": {"type": "number", "default_value": 20},
        "theme": {"type": "json", "default_value": {"primary": "#123456"}},
        "killed": {"type": "string", "default_value": "off", "enabled": False,
                   "rules": [{"value": "on"}]},
        "half": {"type": "boolean", "default_value": False,
                 "rules": [{"rollout_percent": 50, "value": True}]},
    }  # fmt: skip
    out = {name: f.create_flag(org, pid, key=f.unique(name), **body)["key"]
           for name, body in specs.items()}  # fmt: skip
    out["key"] = create_sdk_key(org, pid)
    out["experiment"] = experiment
    settle(live_server)
    return out


@pytest.fixture
def client(flags: f.Json, live_server: LiveServer) -> Iterator[OpenFeatureClient]:
    with _client(live_server.url, flags["key"]) as (of_client, _):
        yield of_client


@contextlib.contextmanager
def _client(url: str, key: SdkKey) -> Iterator[tuple[OpenFeatureClient, OFREPProvider]]:
    """An OpenFeature client on its own domain, served by the OFREP provider."""
    domain = f"avsb-{uuid.uuid4().hex[:8]}"
    provider = OFREPProvider(url, headers_factory=lambda: bearer(key))
    openfeature.set_provider_and_wait(provider, domain)
    try:
        yield openfeature.get_client(domain), provider
    finally:
        provider.session.close()
        openfeature.clear_providers()


def _context(unit: str = "user_1", **attributes: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=unit, attributes=attributes)


class TestOpenFeatureSdk:
    def test_boolean__targeting_match_and_default(
        self, client: OpenFeatureClient, flags: f.Json
    ) -> None:
        hit = client.get_boolean_details(flags["us_only"], False, _context(country="US"))
        assert (hit.value, hit.reason, hit.variant, hit.error_code) == (
            True, Reason.TARGETING_MATCH, "rule_0", None,
        )  # fmt: skip
        miss = client.get_boolean_details(flags["us_only"], True, _context(country="DE"))
        # OFREP has no DEFAULT reason: a fallback after targeting is TARGETING_MATCH, "default"
        assert (miss.value, miss.reason, miss.variant) == (False, Reason.TARGETING_MATCH, "default")

    def test_string__static(self, client: OpenFeatureClient, flags: f.Json) -> None:
        details = client.get_string_details(flags["greeting"], "fallback", _context())
        assert (details.value, details.reason, details.error_code) == ("hello", "STATIC", None)

    def test_float__experiment_variant_as_json_float(
        self, client: OpenFeatureClient, flags: f.Json, live_server: LiveServer
    ) -> None:
        key: SdkKey = flags["key"]
        with Client(live_server.url, key.secret) as local:
            assert local.wait_until_ready(10)
            units = (f"u{i}" for i in range(1000))
            unit = next(u for u in units if local.get_number(flags["price"], u) == 7)
        details = client.get_float_details(flags["price"], 0.5, _context(unit))
        assert details.error_code is None
        assert isinstance(details.value, float)
        assert details.value == 7.0
        assert (details.reason, details.variant) == (Reason.SPLIT, "control")
        assert details.flag_metadata["experiment_key"] == flags["experiment"]["key"]

    def test_integer_and_object(self, client: OpenFeatureClient, flags: f.Json) -> None:
        number = client.get_integer_details(flags["max_items"], 1, _context())
        assert (number.value, number.reason, number.error_code) == (20, "STATIC", None)
        theme = client.get_object_details(flags["theme"], {}, _context())
        assert (theme.value, theme.reason) == ({"primary": "#123456"}, "STATIC")

    def test_disabled_and_split(self, client: OpenFeatureClient, flags: f.Json) -> None:
        killed = client.get_string_details(flags["killed"], "x", _context())
        assert (killed.value, killed.reason) == ("off", Reason.DISABLED)
        reasons = {client.get_boolean_details(flags["half"], False, _context(f"u{i}")).reason
                   for i in range(40)}  # fmt: skip
        assert reasons == {Reason.SPLIT, Reason.TARGETING_MATCH}

    def test_flag_not_found__default_with_error(self, client: OpenFeatureClient) -> None:
        details = client.get_boolean_details("no_such_flag", True, _context())
        assert (details.value, details.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)

    def test_type_mismatch__default_with_error(
        self, client: OpenFeatureClient, flags: f.Json
    ) -> None:
        details = client.get_boolean_details(flags["greeting"], True, _context())
        assert (details.value, details.error_code) == (True, ErrorCode.TYPE_MISMATCH)

    def test_targeting_key_missing__only_where_bucketing_needs_it(
        self, client: OpenFeatureClient, flags: f.Json
    ) -> None:
        context = EvaluationContext(attributes={"country": "US"})
        rollout = client.get_boolean_details(flags["half"], False, context)
        assert rollout.error_code == ErrorCode.TARGETING_KEY_MISSING
        by_attribute = client.get_boolean_details(flags["us_only"], False, context)
        assert (by_attribute.value, by_attribute.error_code) == (True, None)

    def test_rate_limited__retry_after_seconds__default(self, servers: ServerFactory) -> None:
        server = servers.start(evaluation_rate_limit_per_minute=60, evaluation_rate_limit_burst=1)
        try:
            with new_org_client(server) as org:
                pid = f.create_project(org)["id"]
                flag = f.create_flag(org, pid, type="boolean", default_value=True)["key"]
                key = create_sdk_key(org, pid)
            settle(server)
            with _client(server.url, key) as (client, provider):
                first = client.get_boolean_details(flag, False, _context())
                limited = client.get_boolean_details(flag, False, _context())
                retry_after = provider.retry_after
        finally:
            server.stop()
        assert (first.value, first.error_code) == (True, None)
        assert (limited.value, limited.error_code) == (False, ErrorCode.GENERAL)
        assert retry_after is not None


class TestProtocol:
    def _post(self, org: ApiClient, key: SdkKey, path: str, body: Any) -> Any:
        content = body if isinstance(body, bytes) else None
        payload = None if isinstance(body, bytes) else body
        return org.post(f"/ofrep/v1/evaluate/flags{path}", headers=bearer(key),
                        content=content, json=payload)  # fmt: skip

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            (b"{oops", 400, "PARSE_ERROR"),
            ({"context": []}, 400, "INVALID_CONTEXT"),
            ([1], 400, "INVALID_CONTEXT"),
            ({"context": {"targetingKey": 5}}, 400, "INVALID_CONTEXT"),
        ],
    )
    def test_bad_request__error_shape(
        self, org: ApiClient, flags: f.Json, body: Any, status: int, code: str
    ) -> None:
        r = self._post(org, flags["key"], f"/{flags['greeting']}", body)
        assert r.status_code == status
        assert r.json() == {"key": flags["greeting"], "errorCode": code,
                            "errorDetails": r.json()["errorDetails"]}  # fmt: skip
        bulk = self._post(org, flags["key"], "", body)
        assert (bulk.status_code, bulk.json()["errorCode"]) == (status, code)

    def test_not_found__404_shape(self, org: ApiClient, flags: f.Json) -> None:
        r = self._post(org, flags["key"], "/nope", {"context": {"targetingKey": "u"}})
        assert r.status_code == 404
        assert r.json()["key"] == "nope"
        assert r.json()["errorCode"] == "FLAG_NOT_FOUND"

    def test_success__float_serialised_with_a_decimal_point(
        self, org: ApiClient, flags: f.Json
    ) -> None:
        r = self._post(org, flags["key"], f"/{flags['price']}", {"context": {"targetingKey": "u"}})
        assert r.status_code == 200
        assert set(r.json()) == {"key", "value", "reason", "variant", "metadata"}
        assert isinstance(r.json()["value"], float)

    def test_bulk__etag_304_until_a_change(
        self, org: ApiClient, flags: f.Json, live_server: LiveServer
    ) -> None:
        body = {"context": {"targetingKey": "user_1", "country": "US"}}
        first = self._post(org, flags["key"], "", body)
        assert first.status_code == 200
        entries = {e["key"]: e for e in first.json()["flags"]}
        assert entries[flags["us_only"]]["value"] is True
        assert entries[flags["price"]]["variant"] in {"control", "treatment_1"}
        etag = first.headers["etag"]
        again = org.post("/ofrep/v1/evaluate/flags", json=body,
                         headers={**bearer(flags["key"]), "If-None-Match": etag})  # fmt: skip
        assert again.status_code == 304
        assert again.headers["etag"] == etag
        assert again.content == b""
        key: SdkKey = flags["key"]
        f.create_flag(org, key.project_id, default_value="new")
        settle(live_server)
        changed = org.post("/ofrep/v1/evaluate/flags", json=body,
                           headers={**bearer(key), "If-None-Match": etag})  # fmt: skip
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert len(changed.json()["flags"]) == len(entries) + 1
