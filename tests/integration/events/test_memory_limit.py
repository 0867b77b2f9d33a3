"""The embedded DuckDB store runs under a memory limit (AVSB_EVENTS_MEMORY_LIMIT), so a
results refresh stays under 1 GiB of process memory (docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from avsb.server.config import Settings
from avsb.server.events import open_event_store
from avsb.server.events.duckdb_store import DEFAULT_MEMORY_LIMIT
from avsb.server.runtime import Runtime
from tests.support.servers import ServerFactory


def _limit(store_query: list[tuple[object, ...]]) -> str:
    ((value,),) = store_query
    return str(value)


def test_default_limit__applied_to_the_store(tmp_path: Path) -> None:
    store = open_event_store(str(tmp_path / "events.duckdb"))
    try:
        limit = _limit(store.query("SELECT current_setting('memory_limit')"))
    finally:
        store.close()
    assert DEFAULT_MEMORY_LIMIT == "768MB"
    assert limit == "732.4 MiB"  # DuckDB reports 768 MB in MiB


def test_setting__reaches_the_servers_store(servers: ServerFactory, tmp_path: Path) -> None:
    live = servers.start(events_url=str(tmp_path / "events.duckdb"), events_memory_limit="300MB")
    try:
        runtime: Runtime = live.app.state.runtime
        limit = _limit(runtime.events.get().query("SELECT current_setting('memory_limit')"))
    finally:
        live.stop()
    assert limit == "286.1 MiB"


@pytest.mark.parametrize("bad", ["lots", "512", "-1GB", "1 PB"])
def test_setting__malformed_refused_at_start(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValidationError, match="events_memory_limit"):
        Settings(data_dir=tmp_path, events_memory_limit=bad)
