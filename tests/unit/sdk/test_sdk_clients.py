"""`avsb_sdk` without a server: its surface and imports, typed answers, defaults before the
first config, polling with ETag, server-sent events, the async client and the OpenFeature
provider, all over httpx.MockTransport (a fake AvsB server)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api as openfeature_api
from openfeature.evaluation_context import EvaluationContext

import avsb_sdk as sdk
from avsb_sdk import ApiError, AsyncClient, Client, ExposureOptions, ManagementClient
from avsb_sdk._core import SseEvent, SseParser
from avsb_sdk.openfeature import AvsbProvider
from tests.support.imports import forbidden_imports
from tests.unit.sdk.configs import ConfigServer


def _client(server: Any, **kwargs: Any) -> Client:
    kwargs.setdefault("stream", False)
    return Client("http://avsb", "avsb_sdk_x", transport=httpx.MockTransport(server), **kwargs)


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class TestSurface:
    def test_all__pinned(self) -> None:
        assert sdk.__all__ == [
            "ApiError", "Assignment", "AsyncClient", "Client", "Exposure", "ExposureOptions",
            "ExposureQueue", "FlagDetails", "ManagementClient", "SdkError",
        ]  # fmt: skip

    def test_modules__import_own_httpx_and_stdlib_only(self) -> None:
        def allowed(name: str) -> bool:
            top = name.split(".")[0]
            return top in {"avsb_sdk", "httpx"} or top in sys.stdlib_module_names

        assert forbidden_imports(Path(sdk.__file__).parent, allowed) == [
            "openfeature.py: openfeature.evaluation_context",
            "openfeature.py: openfeature.exception",
            "openfeature.py: openfeature.flag_evaluation",
            "openfeature.py: openfeature.provider",
        ]  # the optional extra, imported by avsb_sdk.openfeature only


class TestBeforeTheFirstConfig:
    def test_server_down__defaults_never_raise(self) -> None:
        client = _client(_down, poll_interval=60)
        assert client.wait_until_ready(0.3) is False
        assert client.ready is False
        assert client.revision is None
        assert client.is_on("dark_mode", "u1") is False
        assert client.get_string("colour", "u1", default="grey") == "grey"
        assert client.get_number("limit", "u1", default=7) == 7
        assert client.get_json("menu", "u1", default={"x": 1}) == {"x": 1}
        details = client.details("colour", "u1", default="grey")
        assert (details.value, details.reason, details.error_code) == (
            "grey", "ERROR", "PROVIDER_NOT_READY",
        )  # fmt: skip
        assignment = client.assign("button", "u1")
        assert (assignment.assigned, assignment.reason, assignment.variant) == (
            False, "not_ready", None,
        )  # fmt: skip
        assert client.evaluate("u1")["flags"] == {}
        assert client.get_experiments("u1") == {}
        client.close()

    def test_server_comes_up__ready_without_a_restart(self) -> None:
        up = threading.Event()
        server = ConfigServer()

        def flaky(request: httpx.Request) -> httpx.Response:
            return server(request) if up.is_set() else _down(request)

        client = _client(flaky, poll_interval=60)  # retries sooner than poll_interval
        assert client.wait_until_ready(0.3) is False
        up.set()
        assert client.wait_until_ready(10) is True
        assert client.get_string("colour", "u1") in {"red", "blue"}
        client.close()

    def test_refused_key__refresh_raises_api_error(self) -> None:
        def deny(request: httpx.Request) -> httpx.Response:
            error = {"code": "unauthorized", "message": "bad key", "details": {},
                     "request_id": "req_1"}  # fmt: skip
            return httpx.Response(401, json={"error": error})

        with _client(deny) as client, pytest.raises(ApiError) as caught:
            client.refresh()
        assert (caught.value.status_code, caught.value.code) == (401, "unauthorized")
        assert caught.value.request_id == "req_1"


@pytest.fixture
def ready() -> Iterator[Client]:
    with _client(ConfigServer()) as client:
        assert client.wait_until_ready(5)
        yield client


class TestTypedAnswers:
    def test_getters__values_of_each_type(self, ready: Client) -> None:
        assert ready.is_on("dark_mode", "u1", {"plan": "pro"}) is True
        assert ready.is_on("dark_mode", "u1", {"plan": "free"}) is False
        assert ready.get_number("limit", "u1") == 25
        assert ready.get_number("ratio", "u1") == 0.5
        assert ready.get_json("menu", "u1") == {"items": [1, 2]}
        assert ready.get_string("colour", "u1") == ready.assign("button", "u1").param("c")

    def test_details__reason_variant_experiment(self, ready: Client) -> None:
        colour = ready.details("colour", "u1")
        variant = ready.assign("button", "u1").variant
        assert (colour.reason, colour.variant, colour.experiment_key) == (
            "SPLIT", variant, "button",
        )  # fmt: skip
        assert ready.details("dark_mode", "u1", {"plan": "pro"}).reason == "TARGETING_MATCH"
        assert ready.details("dark_mode", "u1", {"plan": "free"}).reason == "DEFAULT"
        assert ready.details("limit", "u1").reason == "STATIC"
        assert ready.details("off", "u1").reason == "DISABLED"

    def test_errors__default_with_code(self, ready: Client) -> None:
        missing = ready.details("nope", "u1", default=3)
        assert (missing.value, missing.reason, missing.error_code) == (3, "ERROR", "FLAG_NOT_FOUND")
        mismatch = ready.string_details("limit", "u1", default="x")
        assert (mismatch.value, mismatch.error_code) == ("x", "TYPE_MISMATCH")
        assert ready.get_number("dark_mode", "u1", default=1.5) == 1.5  # a bool is no number
        assert ready.get_boolean("colour", "u1", default=True) is True

    def test_assign__experiment_layer_unknown(self, ready: Client) -> None:
        variants = {ready.assign("button", f"u{i}").variant for i in range(200)}
        assert variants == {"control", "blue"}
        by_experiment = ready.assign("price", "u1")
        by_layer = ready.assign("checkout", "u1")
        assert by_experiment.assigned
        assert by_layer.assigned
        assert (by_experiment.variant, by_experiment.group_id) == (
            by_layer.variant, by_layer.group_id,
        )  # fmt: skip
        assert by_experiment.layer_key == "checkout"
        assert by_experiment.params["p"] in {"9", "12"}
        unknown = ready.assign("nope", "u1")
        assert (unknown.assigned, unknown.reason, unknown.group_id) == (False, "not_found", -1)

    def test_wire_shapes__abc_and_evaluate(self, ready: Client) -> None:
        layer = ready.get_experiments("u1")["button"]
        assert layer["params"]["c"] == ready.get_string("colour", "u1")
        flags = ready.get_feature_flags("u1", ["colour", "missing"])
        assert set(flags) == {"colour"}
        assert ready.evaluate("u1")["revision"] == 3

    def test_on_exposure__real_assignments_once_each(self) -> None:
        seen: list[tuple[str, str, str]] = []

        def record(exposure: sdk.Exposure) -> None:
            seen.append((exposure.unit_id, exposure.experiment_key, exposure.variant_key))

        with _client(
            ConfigServer(), exposures=ExposureOptions(send=False, on_exposure=record)
        ) as client:
            assert client.wait_until_ready(5)
            for _ in range(3):
                client.get_string("colour", "u1")
                client.assign("button", "u1")
                client.is_on("dark_mode", "u1")  # no experiment: no exposure
                client.assign("price", "u2")
        assert sorted(seen) == sorted(
            [("u1", "button", client.assign("button", "u1").variant or ""),
             ("u2", "price", client.assign("price", "u2").variant or "")]
        )  # fmt: skip


class TestRefresh:
    def test_etag__304_then_new_revision(self) -> None:
        server = ConfigServer()
        with _client(server, poll_interval=60) as client:
            assert client.wait_until_ready(5)
            assert client.refresh() is False
            assert server.not_modified == 1
            server.revision = 4
            assert client.refresh() is True
            assert client.revision == 4

    def test_polling__follows_within_an_interval(self) -> None:
        server = ConfigServer()
        with _client(server, poll_interval=0.1) as client:
            assert client.wait_until_ready(5)
            server.revision = 9
            deadline = time.monotonic() + 2
            while client.revision != 9:
                assert time.monotonic() < deadline
                time.sleep(0.01)


class TestServerSentEvents:
    def test_parser__fields_comments_multiline_retry(self) -> None:
        parser = SseParser()
        lines = [": hello", "retry: 2500", "event: config", "id: 7", 'data: {"version": 7,',
                 'data: "etag": "W/\\"7\\""}', "", "", "data:x", ""]  # fmt: skip
        events = [e for line in lines if (e := parser.feed(line)) is not None]
        assert events == [
            SseEvent("config", '{"version": 7,\n"etag": "W/\\"7\\""}', "7", 2.5),
            SseEvent("message", "x", None, None),
        ]

    def test_news__etag_version_heartbeat_garbage(self, ready: Client) -> None:
        is_news = ready._is_news
        assert is_news(SseEvent("config", json.dumps({"version": 3, "etag": 'W/"3"'}))) is False
        assert is_news(SseEvent("config", json.dumps({"version": 4, "etag": 'W/"4"'}))) is True
        assert is_news(SseEvent("config", json.dumps({"version": 3, "etag": '"3"'}))) is False
        assert is_news(SseEvent("config", json.dumps({"version": 3}))) is False
        assert is_news(SseEvent("config", json.dumps({"version": 4}))) is True
        assert is_news(SseEvent("config", json.dumps({"version": "3", "revision": 4}))) is True
        assert is_news(SseEvent("config", json.dumps({"version": "3"}))) is False  # the ETag's
        assert is_news(SseEvent("config", json.dumps({"other": 1}))) is True
        assert is_news(SseEvent("ping", "{}")) is False
        assert is_news(SseEvent("config", "not json")) is True

    def test_stream__a_change_arrives_without_polling(self) -> None:
        server = ConfigServer()
        announced = threading.Event()

        def events() -> Iterator[bytes]:
            announced.wait(5)
            payload = json.dumps({"version": 4, "etag": 'W/"4"'})
            yield f"event: config\nid: 4\ndata: {payload}\n\n".encode()

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/sdk/config/stream":
                assert request.headers["accept"] == "text/event-stream"
                return httpx.Response(200, content=events(),
                                      headers={"content-type": "text/event-stream"})  # fmt: skip
            return server(request)

        with _client(handler, poll_interval=60, stream=True) as client:
            assert client.wait_until_ready(5)
            deadline = time.monotonic() + 5
            while not client.streaming:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            server.revision = 4
            announced.set()
            while client.revision != 4:
                assert time.monotonic() < deadline, "the stream's announcement was not followed"
                time.sleep(0.01)

    def test_no_stream_route__polling_only(self) -> None:
        server = ConfigServer()  # answers 404 to the stream
        with _client(server, poll_interval=0.1, stream=True) as client:
            assert client.wait_until_ready(5)
            server.revision = 5
            deadline = time.monotonic() + 2
            while client.revision != 5:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert client.streaming is False


class TestAsyncClient:
    def test_async__ready_typed_and_exposures_sent_on_close(self) -> None:
        server = ConfigServer()
        batches: list[list[dict[str, Any]]] = []

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/sdk/exposures":
                assert request.headers["authorization"] == "Bearer avsb_sdk_x"
                batches.append(json.loads(request.content)["exposures"])
                return httpx.Response(200, json={"data": {"rejected": []}})
            return server(request)

        async def main() -> None:
            options = ExposureOptions(flush_interval=60)
            transport = httpx.MockTransport(handler)
            async with AsyncClient("http://avsb", "avsb_sdk_x", exposures=options,
                                   transport=transport) as client:  # fmt: skip
                assert client.get_string("colour", "u1", default="grey") == "grey"
                assert await client.wait_until_ready(5)
                assert client.get_string("colour", "u1") in {"red", "blue"}
                for i in range(30):
                    assert client.assign("button", f"u{i}").assigned
                server.revision = 6
                assert await client.refresh() is True
            assert client.exposures.sent == 30

        asyncio.run(main())
        assert sum(len(b) for b in batches) == 30

    def test_async_stream__a_change_arrives_without_polling(self) -> None:
        server = ConfigServer()

        async def events() -> AsyncIterator[bytes]:
            yield b": ping\n\n"
            while server.revision != 4:
                await asyncio.sleep(0.01)
            payload = json.dumps({"version": "4", "etag": 'W/"4"', "revision": 4})
            yield f"id: 4\nevent: config\ndata: {payload}\n\n".encode()
            await asyncio.sleep(30)

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/sdk/config/stream":
                return httpx.Response(200, content=events())
            return server(request)

        async def main() -> None:
            transport = httpx.MockTransport(handler)
            async with AsyncClient("http://avsb", "avsb_sdk_x", poll_interval=60,
                                   transport=transport) as client:  # fmt: skip
                assert await client.wait_until_ready(5)
                for _ in range(500):
                    if client.streaming:
                        break
                    await asyncio.sleep(0.01)
                assert client.streaming
                server.revision = 4
                for _ in range(500):
                    if client.revision == 4:
                        break
                    await asyncio.sleep(0.01)
                assert client.revision == 4

        asyncio.run(main())


class TestOpenFeature:
    def test_provider__typed_values_reasons_errors(self) -> None:
        client = _client(ConfigServer())
        openfeature_api.set_provider_and_wait(AvsbProvider(client))
        try:
            flags = openfeature_api.get_client()
            pro = EvaluationContext("u1", {"plan": "pro"})
            dark = flags.get_boolean_details("dark_mode", False, pro)
            assert (dark.value, dark.reason) == (True, "TARGETING_MATCH")
            colour = flags.get_string_details("colour", "grey", pro)
            assert colour.value == client.get_string("colour", "u1")
            assert colour.variant == client.assign("button", "u1").variant
            assert flags.get_integer_value("limit", 0, pro) == 25
            assert flags.get_float_value("ratio", 0.0, pro) == 0.5
            assert flags.get_object_value("menu", {}, pro) == {"items": [1, 2]}
            missing = flags.get_string_details("nope", "d", pro)
            assert (missing.value, missing.error_code) == ("d", "FLAG_NOT_FOUND")
            no_key = flags.get_boolean_details("dark_mode", False, EvaluationContext())
            assert no_key.error_code == "TARGETING_KEY_MISSING"
        finally:
            openfeature_api.shutdown()


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
