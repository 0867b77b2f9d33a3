"""Exposure logging: real assignments only, one per (experiment, unit) keeping the first time,
flushed by size, by time and on shutdown, and counted when the full buffer drops one."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from avsb.server.events import open_event_store
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, abc, bearer, create_sdk_key, runtime
from tests.integration.evaluation_api.support import settle as settle_server
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

Row = tuple[Any, ...]


@dataclass
class Setup:
    server: LiveServer
    org: ApiClient
    key: SdkKey
    half: f.Json  # 50% of traffic, in an exclusion group
    everyone: f.Json  # 100% of traffic, its own layer
    flag: str  # bound to `half`

    def ask(self, unit: str, route: str = "get_experiments", **extra: Any) -> f.Json:
        body = {"project_id": self.key.project_id, "unit_id": unit, **extra}
        answer: f.Json = abc(self.org, route, self.key, body).json()
        assert answer["ret_code"] == 100, answer
        return answer

    def flush(self) -> None:
        assert runtime(self.server).evaluation.exposures.flush()

    def rows(self) -> list[Row]:
        store = runtime(self.server).events.get()
        rows: list[Row] = store.query(
            "SELECT experiment, variant, unit_id, ts_us FROM ev_exposure "
            f"WHERE project_id = '{self.key.project_id}' ORDER BY experiment, unit_id"
        )
        return rows


@pytest.fixture
def start(servers: ServerFactory, events_url: str) -> Iterator[Callable[..., Setup]]:
    """Start a server on this test's own event store and build a project on it."""
    with contextlib.ExitStack() as stack:

        def make(**settings: Any) -> Setup:
            server = servers.start(events_url=events_url, **settings)
            stack.callback(server.stop)
            org = stack.enter_context(new_org_client(server))
            pid = f.create_project(org)["id"]
            group = f.create_group(org, pid)
            half = f.create_experiment(org, pid, exclusion_group_id=group["id"], traffic_percent=50)
            everyone = f.create_experiment(org, pid, traffic_percent=100)
            for experiment in (half, everyone):
                f.act(org, experiment["id"], "start")
            flag = f.create_flag(org, pid, experiment_id=half["id"], experiment_param="color")
            settle_server(server)
            return Setup(server, org, create_sdk_key(org, pid), half, everyone, flag["key"])

        yield make


def _wait_rows(setup: Setup, count: int, seconds: float = 5.0) -> list[Row]:
    deadline = time.monotonic() + seconds
    while True:
        rows = setup.rows()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


class TestWhatIsLogged:
    def test_real_assignments_only__one_per_experiment_and_unit(
        self, start: Callable[..., Setup]
    ) -> None:
        setup = start(exposure_flush_seconds=3600)
        expected: set[tuple[str, str, str]] = set()
        for i in range(60):
            unit = f"u{i}"
            for _ in range(2):
                layers = setup.ask(unit)["exp_data"]
            expected |= {(a["experiment_key"], a["group_key"], unit)
                         for a in layers.values() if a["group_id"] != -1}  # fmt: skip
            setup.ask(unit, "get_feature_flags", feature_names=[setup.flag])
        setup.flush()
        rows = setup.rows()
        assert {(e, v, u) for e, v, u, _ in rows} == expected
        assert len(rows) == len(expected)
        half = {u for e, _, u in expected if e == setup.half["key"]}
        assert 10 < len(half) < 50  # some units got group_id -1 there and were not logged

    def test_flags__bound_value_logged__bulk_ofrep_not(self, start: Callable[..., Setup]) -> None:
        setup = start(exposure_flush_seconds=3600)
        units = [f"unit_{i}" for i in range(30)]
        for unit in units:
            setup.org.post("/ofrep/v1/evaluate/flags", headers=bearer(setup.key),
                           json={"context": {"targetingKey": unit}})  # fmt: skip
        setup.flush()
        assert setup.rows() == []
        chosen = set()
        for unit in units:
            r = setup.org.post(f"/ofrep/v1/evaluate/flags/{setup.flag}", headers=bearer(setup.key),
                               json={"context": {"targetingKey": unit}})  # fmt: skip
            if r.json()["reason"] == "SPLIT":
                chosen.add(unit)
        setup.flush()
        assert {u for _, _, u, _ in setup.rows()} == chosen
        assert chosen

    def test_replayed_answer__logs_nothing(self, start: Callable[..., Setup]) -> None:
        """The same body again is answered from the memo (`cache.AnswerMemo`), whose
        exposures were logged when it was computed: nothing more reaches the buffer."""
        setup = start(exposure_flush_seconds=3600)
        only = {"experiment_keys": [setup.everyone["key"]]}
        buffer = runtime(setup.server).evaluation.exposures
        first = setup.ask("again", filter_options=only)
        assert len(buffer) == 1
        for _ in range(3):
            assert setup.ask("again", filter_options=only) == first
        assert len(buffer) == 1
        setup.flush()
        assert [r[2] for r in setup.rows()] == ["again"]

    def test_logged_again_later__first_time_kept(self, start: Callable[..., Setup]) -> None:
        setup = start(exposure_flush_seconds=3600)
        only = {"experiment_keys": [setup.everyone["key"]]}
        setup.ask("first", filter_options=only)
        setup.flush()
        (first,) = [r for r in setup.rows() if r[2] == "first"]
        for unit in ("second", "third"):
            time.sleep(0.002)
            setup.ask(unit, filter_options=only)
        # Another body for the same unit: computed, so its exposure is buffered again.
        setup.ask("first", filter_options=only, profiles={"country": {"user_attrs": ["DE"]}})
        assert len(runtime(setup.server).evaluation.exposures) == 3
        setup.flush()
        rows = setup.rows()
        assert len(rows) == 3
        assert [r for r in rows if r[2] == "first"] == [first]


class TestFlushing:
    def test_by_size(self, start: Callable[..., Setup]) -> None:
        setup = start(exposure_flush_seconds=3600, exposure_flush_batch_size=5)
        for i in range(5):
            setup.ask(f"u{i}", filter_options={"experiment_keys": [setup.everyone["key"]]})
        assert len(_wait_rows(setup, 5)) == 5

    def test_by_time(self, start: Callable[..., Setup]) -> None:
        setup = start(exposure_flush_seconds=0.2, exposure_flush_batch_size=1000)
        setup.ask("u1", filter_options={"experiment_keys": [setup.everyone["key"]]})
        assert len(_wait_rows(setup, 1)) == 1

    def test_on_shutdown__nothing_lost(self, start: Callable[..., Setup], events_url: str) -> None:
        setup = start(exposure_flush_seconds=3600, exposure_flush_batch_size=100_000)
        count = 300
        for i in range(count):
            setup.ask(f"u{i}", filter_options={"experiment_keys": [setup.everyone["key"]]})
        assert len(runtime(setup.server).evaluation.exposures) == count
        setup.server.stop()
        store = open_event_store(events_url)
        try:
            rows = store.query(
                f"SELECT COUNT(*) FROM ev_exposure WHERE project_id = '{setup.key.project_id}'"
            )
        finally:
            store.close()
        assert rows == [(count,)]


class TestBufferFull:
    def test_new_exposures_dropped__counted_in_metrics_and_diagnostics(
        self, start: Callable[..., Setup]
    ) -> None:
        setup = start(exposure_flush_seconds=3600, exposure_buffer_size=3)
        for i in range(8):
            setup.ask(f"u{i}", filter_options={"experiment_keys": [setup.everyone["key"]]})
        metrics = setup.org.get("/metrics").text
        assert 'avsb_exposures_dropped_total{reason="buffer_full"} 5.0' in metrics
        assert "avsb_exposure_buffer_size 3.0" in metrics
        counters = setup.org.get("/api/v1/diagnostics").json()["data"]["counters"]
        assert counters["avsb_exposures_dropped_total"] == 5
        setup.flush()
        assert [r[2] for r in setup.rows()] == ["u0", "u1", "u2"]  # the first ones are kept

    def test_answer_replayed_from_the_memo__logs_what_the_full_buffer_dropped(
        self, start: Callable[..., Setup]
    ) -> None:
        """The same body again is answered from the memo (`cache.AnswerMemo`); the replay
        still logs its exposures, so one dropped while the buffer was full is written now."""
        setup = start(exposure_flush_seconds=3600, exposure_buffer_size=1)
        only = {"experiment_keys": [setup.everyone["key"]]}
        setup.ask("u-filler", filter_options=only)  # the one place is taken
        first = setup.ask("u-late", filter_options=only)
        setup.flush()
        assert [r[2] for r in setup.rows()] == ["u-filler"]  # u-late's exposure was dropped
        assert setup.ask("u-late", filter_options=only) == first
        setup.flush()
        assert [r[2] for r in setup.rows()] == ["u-filler", "u-late"]
