"""Regex rules run in linear time: a catastrophic-backtracking pattern, evaluated over OFREP
with long values by anyone holding the SDK key, never stalls the server (issue #10)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from avsb_sdk import Client
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, settle
from tests.support.servers import ApiClient, LiveServer

EVIL = "^(a+)+$"
"""Exponential in the value's length under a backtracking engine: 25 'a's and a '!' took
10 s of the event loop under Python's re."""


@pytest.fixture(scope="module")
def evil(org: ApiClient, live_server: LiveServer) -> tuple[str, SdkKey]:
    """A boolean flag that is true for units whose `name` matches EVIL, and an SDK key."""
    pid = f.create_project(org)["id"]
    tree = {"attribute": "name", "operator": "regex", "value": EVIL}
    audience = f.create_audience(org, pid, conditions=tree)
    rules = [{"audience_id": audience["id"], "value": True}]
    flag = f.create_flag(org, pid, type="boolean", default_value=False, rules=rules)
    key = create_sdk_key(org, pid)
    settle(live_server)
    return flag["key"], key


def _evaluate(client: httpx.Client, flag: str, key: SdkKey, name: str) -> httpx.Response:
    body = {"context": {"targetingKey": "u1", "name": name}}
    return client.post(f"/ofrep/v1/evaluate/flags/{flag}", json=body, headers=bearer(key))


class TestEvilPattern:
    def test_matching_value__targeting_match(
        self, evil: tuple[str, SdkKey], live_server: LiveServer
    ) -> None:
        flag, key = evil
        with live_server.client() as client:
            hit = _evaluate(client, flag, key, "a" * 4096)
        assert hit.status_code == 200, hit.text
        assert (hit.json()["value"], hit.json()["reason"]) == (True, "TARGETING_MATCH")

    def test_long_non_matching_values__linear__health_stays_responsive(
        self, evil: tuple[str, SdkKey], live_server: LiveServer
    ) -> None:
        # Given: values that make a backtracking engine explore 2^n paths, up to the
        # longest value a regex is searched in (4096 characters)
        flag, key = evil
        names = ["a" * n + "!" for n in (25, 40, 1000, 4095)] * 2
        answers: list[httpx.Response] = []

        def attack() -> None:
            with live_server.client() as client:
                answers.extend(_evaluate(client, flag, key, name) for name in names)

        # When: they are evaluated while /health is polled
        attacker = threading.Thread(target=attack)
        latencies: list[float] = []
        with live_server.client() as client:
            attacker.start()
            while attacker.is_alive() or not latencies:
                started = time.perf_counter()
                assert client.get("/health").status_code == 200
                latencies.append(time.perf_counter() - started)
            attacker.join()

        # Then: every answer is the default, and /health never waited (generous bound)
        assert [(a.status_code, a.json()["value"]) for a in answers] == [(200, False)] * len(names)
        assert max(latencies) < 1.0, latencies

    def test_value_over_4096_chars__never_matches(
        self, evil: tuple[str, SdkKey], live_server: LiveServer
    ) -> None:
        flag, key = evil
        with live_server.client() as client:
            long = _evaluate(client, flag, key, "a" * 4097)
        assert (long.status_code, long.json()["value"]) == (200, False)

    def test_in_process_sdk__same_linear_matching(
        self, evil: tuple[str, SdkKey], live_server: LiveServer
    ) -> None:
        # The SDK evaluates the served config with the shared core, so with RE2 as well
        flag, key = evil
        with Client(live_server.url, key.secret) as local:
            assert local.wait_until_ready(10)
            started = time.perf_counter()
            misses = [local.get_boolean(flag, "u1", {"name": "a" * n + "!"}) for n in (25, 4095)]
            elapsed = time.perf_counter() - started
            assert local.get_boolean(flag, "u1", {"name": "aaaa"}) is True
        assert misses == [False, False]
        assert elapsed < 1.0  # generous: a backtracking engine would not finish n=25 in 10 s


class TestRefusedAtSave:
    @pytest.mark.parametrize(
        "pattern", ["^(?=admin)", "(a)\\1", "a{1001}", "(?i)(?:[\\p{L}\\d]{3,20}\\.){2,5}"]
    )
    def test_audience__not_re2_or_too_large__422_at_value(
        self, org: ApiClient, pattern: str
    ) -> None:
        pid = f.create_project(org)["id"]
        tree = {"all": [{"attribute": "name", "operator": "regex", "value": pattern}]}
        body = {"project_id": pid, "key": f.unique("a"), "name": "A", "conditions": tree}
        refused = org.post(org.org("/audiences"), json=body)
        assert refused.status_code == 422, refused.text
        assert f.fields(refused) == ["conditions.all.0.value"]

    def test_flag_rule_conditions__422_at_value(self, org: ApiClient) -> None:
        pid = f.create_project(org)["id"]
        leaf = {"attribute": "name", "operator": "regex", "value": "(?<!x)y"}
        body = {"project_id": pid, "key": f.unique("flag"), "type": "boolean",
                "default_value": False, "rules": [{"conditions": leaf, "value": True}]}  # fmt: skip
        assert f.fields(org.post(org.org("/flags"), json=body)) == ["rules.0.conditions.value"]

    def test_segment_conditions__422_at_value(self, org: ApiClient) -> None:
        pid = f.create_project(org)["id"]
        leaf = {"attribute": "name", "operator": "regex", "value": "(unclosed"}
        body = {"project_id": pid, "key": f.unique("seg"), "name": "S", "type": "conditions",
                "conditions": leaf}  # fmt: skip
        assert f.fields(org.post(org.org("/segments"), json=body)) == ["conditions.value"]

    def test_evil_pattern__accepted(self, org: ApiClient) -> None:
        # RE2 compiles it to a linear-time automaton: nothing to refuse
        pid = f.create_project(org)["id"]
        tree = {"attribute": "name", "operator": "regex", "value": EVIL}
        assert f.create_audience(org, pid, conditions=tree)["conditions"] == tree
