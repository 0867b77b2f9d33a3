"""The exposure buffer on its own: a failed write keeps the batch, the bound drops new ones."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import pytest

from avsb.server.config import Settings
from avsb.server.evaluation_api.cache import CompiledProject, build_entry, remembered
from avsb.server.evaluation_api.exposures import ExposureBuffer, ExposureRecord, exposure_event_id
from avsb.server.events import EventStore, open_event_store
from avsb.server.kit.metrics import Metrics
from avsb_sdk.evaluation import assign_experiments, config_from_dict

CONFIG = {
    "schema_version": 1,
    "project_id": "prj_1",
    "project_key": "shop",
    "holdout_salt": "prj_1:holdout",
    "experiments": [
        {"id": "exp_1", "key": "button", "salt": "s_button", "status": "running",
         "variants": [{"key": "control", "group_id": 1, "weight": 1},
                      {"key": "blue", "group_id": 2, "weight": 1}]},
    ],
}  # fmt: skip


class FlakyStore:
    """Delegates to a real store but fails the first `failures` appends."""

    def __init__(self, store: EventStore, failures: int) -> None:
        self.store, self.failures, self.calls = store, failures, 0
        self.times: list[float] = []  # monotonic time of each append

    def append_exposures(self, records: Sequence[ExposureRecord]) -> None:
        self.calls += 1
        self.times.append(time.monotonic())
        if self.calls <= self.failures:
            raise ConnectionError("store unreachable")
        self.store.append_exposures(records)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = open_event_store(str(tmp_path / "events.duckdb"))
    opened.ensure_schema()
    yield opened
    opened.close()


@pytest.fixture
def project() -> CompiledProject:
    return build_entry("org_1", config_from_dict(CONFIG))


def _log(buffer: ExposureBuffer, project: CompiledProject, units: range) -> None:
    for i in units:
        layers = assign_experiments(project.compiled, f"u{i}")
        _body, unit_id, attributes, exposed = remembered(
            b"{}", f"u{i}", {"country": ["US"]}, layers.values()
        )
        buffer.log(project, unit_id, attributes, exposed)


def _count(store: EventStore) -> int:
    ((count,),) = store.query("SELECT COUNT(*) FROM ev_exposure")
    assert isinstance(count, int)
    return count


def test_failed_flush__batch_kept_and_retried(store: EventStore, project: CompiledProject) -> None:
    flaky = cast(EventStore, FlakyStore(store, failures=2))
    metrics = Metrics()
    buffer = ExposureBuffer(Settings(exposure_flush_batch_size=4), lambda: flaky, metrics)
    _log(buffer, project, range(10))
    assert len(buffer) == 10
    assert buffer.flush() is False
    assert buffer.flush() is False
    assert len(buffer) == 10
    assert metrics.counter("avsb_exposure_flush_failures_total") == 2
    assert buffer.flush() is True
    assert (len(buffer), _count(store)) == (0, 10)
    assert metrics.counter("avsb_exposures_flushed_total") == 10


def test_full__new_ones_dropped_and_counted(store: EventStore, project: CompiledProject) -> None:
    metrics = Metrics()
    buffer = ExposureBuffer(Settings(exposure_buffer_size=4), lambda: store, metrics)
    _log(buffer, project, range(10))
    assert len(buffer) == 4
    assert metrics.counter("avsb_exposures_dropped_total", (("reason", "buffer_full"),)) == 6
    assert buffer.flush()
    units = [row[0] for row in store.query("SELECT unit_id FROM ev_exposure ORDER BY unit_id")]
    assert units == ["u0", "u1", "u2", "u3"]


def test_stop__writes_everything(store: EventStore, project: CompiledProject) -> None:
    buffer = ExposureBuffer(Settings(exposure_flush_seconds=3600), lambda: store, Metrics())
    buffer.start()
    _log(buffer, project, range(25))
    buffer.stop()
    assert (len(buffer), _count(store)) == (0, 25)


def test_event_id__deterministic_per_experiment_and_unit() -> None:
    assert exposure_event_id("button", "u1") == exposure_event_id("button", "u1")
    assert exposure_event_id("button", "u1") != exposure_event_id("button", "u2")
    assert exposure_event_id("button", "u1") != exposure_event_id("button2", "u1")


def test_store_down__retries_back_off(store: EventStore, project: CompiledProject) -> None:
    flaky = FlakyStore(store, failures=10**6)
    settings = Settings(exposure_flush_seconds=0.05, exposure_flush_batch_size=1)
    buffer = ExposureBuffer(settings, lambda: cast(EventStore, flaky), Metrics())
    _log(buffer, project, range(5))
    buffer.start()
    deadline = time.monotonic() + 60  # a loaded machine may start the thread late
    while len(flaky.times) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    times = list(flaky.times[:4])
    flaky.failures = 0  # the store is back: shutdown writes everything
    buffer.stop()
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Each retry waits twice as long as the one before (0.1, 0.2, 0.4 s): not a busy loop. Load
    # can only lengthen a wait, so lower bounds hold on any machine.
    for failures, gap in enumerate(gaps, start=1):
        assert gap >= 0.05 * 2**failures * 0.95, gaps
    assert _count(store) == 5


def test_batches__never_more_exposures_than_the_batch_size(
    store: EventStore, project: CompiledProject
) -> None:
    """A relay posts a batch upstream as one request: it must stay within the batch size
    although records hold several exposures each."""
    written: list[int] = []

    class Counting:
        def append_exposures(self, records: Sequence[ExposureRecord]) -> None:
            written.append(sum(len(r[5]) for r in records))
            store.append_exposures(records)

    buffer = ExposureBuffer(
        Settings(exposure_flush_batch_size=5), lambda: cast(EventStore, Counting()), Metrics()
    )
    two = (("button", "control"), ("other", "a"))
    for i in range(7):  # 14 exposures, two per record
        buffer.log(project, f"u{i}", "{}", two)
    assert buffer.flush()
    assert written == [4, 4, 4, 2]
    assert _count(store) == 14
