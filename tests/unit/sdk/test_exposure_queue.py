"""`ExposureQueue`: dedup per (unit, experiment, variant) with a bounded LRU, batching, the
bounded queue and its drop counts, and retries with backoff through `Client` over a fake
server (httpx.MockTransport)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from avsb_sdk import Client, Exposure, ExposureOptions, ExposureQueue
from avsb_sdk._exposures import backoff_seconds, exposure_event_id
from tests.unit.sdk.configs import ConfigServer

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _exp(unit: str, experiment: str = "button", variant: str = "blue") -> Exposure:
    return Exposure(experiment, variant, unit, AT)


class TestDedup:
    def test_same_triple__queued_once_and_one_callback(self) -> None:
        seen: list[Exposure] = []
        queue = ExposureQueue(on_exposure=seen.append)
        assert queue.offer(_exp("u1")) is True
        assert queue.offer(_exp("u1")) is False
        assert queue.offer(_exp("u1", variant="control")) is True  # another variant
        assert queue.offer(_exp("u1", experiment="price")) is True  # another experiment
        assert queue.offer(_exp("u2")) is True
        assert len(queue) == 4
        assert [(e.unit_id, e.experiment_key, e.variant_key) for e in seen] == [
            ("u1", "button", "blue"), ("u1", "button", "control"),
            ("u1", "price", "blue"), ("u2", "button", "blue"),
        ]  # fmt: skip

    def test_lru__bounded_and_least_recently_seen_forgotten(self) -> None:
        queue = ExposureQueue(dedup_size=2)
        queue.offer(_exp("a"))
        queue.offer(_exp("b"))
        assert queue.offer(_exp("a")) is False  # a is now the most recent
        queue.offer(_exp("c"))  # evicts b
        assert queue.offer(_exp("a")) is False
        assert queue.offer(_exp("b")) is True
        assert len(queue._seen) == 2

    def test_callback_failure__logged_not_raised(self) -> None:
        def boom(exposure: Exposure) -> None:
            raise RuntimeError("pipeline down")

        queue = ExposureQueue(on_exposure=boom)
        assert queue.offer(_exp("u1")) is True
        assert len(queue) == 1

    def test_not_sending__callback_only(self) -> None:
        seen: list[Exposure] = []
        queue = ExposureQueue(sending=False, capacity=1, on_exposure=seen.append)
        for i in range(5):
            queue.offer(_exp(f"u{i}"))
        assert (len(queue), len(seen), queue.dropped["queue_full"]) == (0, 5, 0)


class TestBatchingAndBounds:
    def test_batches__of_batch_size_oldest_first_ready_when_full(self) -> None:
        queue = ExposureQueue(batch_size=3)
        for i in range(7):
            queue.offer(_exp(f"u{i}"))
            assert queue.batch_ready.is_set() is (i >= 2)
        assert [e.unit_id for e in queue.take()] == ["u0", "u1", "u2"]
        assert queue.batch_ready.is_set()  # four left: still a full batch
        assert [e.unit_id for e in queue.take()] == ["u3", "u4", "u5"]
        assert not queue.batch_ready.is_set()
        assert [e.unit_id for e in queue.take()] == ["u6"]
        assert queue.take() == []

    def test_full_queue__new_ones_dropped_and_counted_then_admitted_later(self) -> None:
        queue = ExposureQueue(capacity=3, batch_size=10)
        results = [queue.offer(_exp(f"u{i}")) for i in range(5)]
        assert results == [True, True, True, False, False]
        assert queue.dropped["queue_full"] == 2
        queue.take()
        assert queue.offer(_exp("u3")) is True  # a dropped one was not remembered as seen

    def test_give_back__retried_first_in_order(self) -> None:
        queue = ExposureQueue(batch_size=2)
        for i in range(3):
            queue.offer(_exp(f"u{i}"))
        batch = queue.take()
        queue.give_back(batch)
        assert [e.unit_id for e in queue.take()] == ["u0", "u1"]

    def test_event__server_event_id_recipe(self) -> None:
        event = _exp("u1").as_event()
        assert event["event_id"] == exposure_event_id("button", "u1")
        assert event["event_id"].startswith("x:")
        assert len(event["event_id"]) == 42
        assert (event["type"], event["variant"], event["timestamp"]) == (
            "exposure", "blue", "2026-01-01T00:00:00+00:00",
        )  # fmt: skip

    def test_backoff__doubles_up_to_the_cap(self) -> None:
        assert [backoff_seconds(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


class EventsServer(ConfigServer):
    """The config and an exposures route that fails `fail_first` times with 503."""

    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        super().__init__()
        self.fail_first, self.status = fail_first, status
        self.batches: list[list[dict[str, Any]]] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/sdk/exposures":
            assert request.headers["authorization"] == "Bearer avsb_sdk_x"  # the SDK key
            with self.lock:
                self.attempts += 1
                if self.attempts <= self.fail_first:
                    error = {"code": "unavailable", "message": "try later", "details": {}}
                    return httpx.Response(self.status, json={"error": error})
                events = json.loads(request.content)["exposures"]
                self.batches.append(events)
            return httpx.Response(
                200, json={"data": {"accepted": len(events), "duplicates": 0, "rejected": []}}
            )
        return super().__call__(request)


def _client(server: EventsServer, **options: Any) -> Client:
    exposures = ExposureOptions(retry_base=0.01, **options)
    client = Client("http://avsb", "avsb_sdk_x", stream=False, exposures=exposures,
                    transport=httpx.MockTransport(server))  # fmt: skip
    assert client.wait_until_ready(5)
    return client


def _units_assigned(client: Client, n: int) -> list[str]:
    units = [f"u{i}" for i in range(n)]
    for unit in units:
        assert client.assign("button", unit).assigned
    return units


class TestSending:
    def test_send_off__exposures_stay_in_process(self) -> None:
        server = EventsServer()
        seen: list[Exposure] = []
        client = _client(server, send=False, batch_size=2, on_exposure=seen.append)
        _units_assigned(client, 5)
        client.close()
        assert (len(seen), server.attempts, client.exposures.sent) == (5, 0, 0)

    def test_batch_size__at_most_what_the_route_takes(self) -> None:
        with pytest.raises(ValueError, match="batch_size"):
            ExposureOptions(batch_size=1001)
        assert ExposureOptions(batch_size=1000).batch_size == 1000

    def test_by_size__full_batches_sent_without_waiting_for_the_interval(self) -> None:
        server = EventsServer()
        client = _client(server, batch_size=10, flush_interval=60)
        _units_assigned(client, 25)
        deadline = time.monotonic() + 5
        while len(server.batches) < 2:
            assert time.monotonic() < deadline, server.batches
            time.sleep(0.01)
        assert [len(b) for b in server.batches] == [10, 10]
        client.close()  # the remainder on close
        assert [len(b) for b in server.batches] == [10, 10, 5]
        assert client.exposures.sent == 25

    def test_by_time__a_partial_batch_after_the_interval(self) -> None:
        server = EventsServer()
        client = _client(server, batch_size=100, flush_interval=0.1)
        _units_assigned(client, 3)
        deadline = time.monotonic() + 5
        while not server.batches:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert len(server.batches[0]) == 3
        client.close()

    def test_repeats__one_exposure_per_unit_experiment_variant(self) -> None:
        server = EventsServer()
        client = _client(server)
        for _ in range(3):
            _units_assigned(client, 20)
            client.is_on("colour", "u1")  # a flag chosen by the experiment: same triple
        client.close()
        events = [e for batch in server.batches for e in batch]
        assert len(events) == 20
        assert len({e["event_id"] for e in events}) == 20

    def test_retry__503s_then_delivered_once(self) -> None:
        server = EventsServer(fail_first=2)
        client = _client(server, flush_interval=60)
        _units_assigned(client, 4)
        client.close()
        assert server.attempts == 3
        assert [len(b) for b in server.batches] == [4]
        assert client.exposures.sent == 4
        assert client.exposures.dropped == {"queue_full": 0, "rejected": 0, "failed": 0}

    def test_retry__gives_up_after_max_attempts_and_counts(self) -> None:
        server = EventsServer(fail_first=100)
        client = _client(server, flush_interval=60, max_attempts=3)
        _units_assigned(client, 4)
        client.close()
        assert server.attempts == 3
        assert client.exposures.dropped["failed"] == 4

    def test_refused__not_retried_counted_rejected(self) -> None:
        server = EventsServer(fail_first=100, status=403)
        client = _client(server, flush_interval=60)
        _units_assigned(client, 4)
        client.close()
        assert server.attempts == 1
        assert client.exposures.dropped["rejected"] == 4

    def test_bounded_queue__drops_counted_while_the_server_is_away(self) -> None:
        server = EventsServer()
        client = _client(server, capacity=5, batch_size=100, flush_interval=60)
        _units_assigned(client, 8)
        assert client.exposures.dropped["queue_full"] == 3
        client.close()
        assert sum(len(b) for b in server.batches) == 5
