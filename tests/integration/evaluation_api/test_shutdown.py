"""A server's shutdown waits for the database work its background threads have under way
before it closes the pools.

A thread cannot be stopped. When the lifespan cancelled a loop awaiting one (a change poll, a
background job, a webhook record) or left the evaluation gate's lease takes and cache reads
running, it went on to close the pools while the thread was still in a transaction: the
connection went back to a closed pool and stayed open (on PostgreSQL a backend, found later
as a `ResourceWarning` when garbage-collected, as a CI run did), and its write could be cut
short. Each test holds one such thread inside its work, stops the server, and checks that
the pools closed only after the thread was done; and that a thread stuck past
`AVSB_SHUTDOWN_GRACE_SECONDS` does not hold the shutdown, nor the exposures written in it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from avsb.server.auth.authenticator import Authenticator
from avsb.server.events import open_event_store
from avsb.server.kit.changes import ChangeWatcher
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    abc,
    bearer,
    create_sdk_key,
    keyed_project,
    runtime,
    settle,
)
from tests.support.servers import LiveServer, ServerFactory, new_org_client

WAIT = 30.0


class Held:
    """Wraps a method so that, once armed, its next call on `owner` (an object of the server
    under test: other servers of this test process run the same classes) blocks until
    released; records the order of that call's start and end and of the pools' closing."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.armed = threading.Event()
        self.started = threading.Event()
        self.release = threading.Event()
        self.owner: object = None

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            if not self.armed.is_set() or args[0] is not self.owner:
                return original(*args, **kwargs)
            self.armed.clear()
            self.events.append("work started")
            self.started.set()
            self.release.wait(WAIT)
            if "pools closed" in self.events:
                return None  # abandoned by the shutdown: it would open a pool's connection anew
            try:
                return original(*args, **kwargs)
            finally:
                self.events.append("work ended")

        return held

    def watch_pools(self, server: LiveServer, owner: object) -> None:
        """Hold `owner`'s call, and record when `server`'s pools close."""
        self.owner = owner
        db = runtime(server).db
        dispose = db.dispose

        def recorded() -> None:
            self.events.append("pools closed")
            dispose()

        db.dispose = recorded  # type: ignore[method-assign]


@pytest.fixture
def held() -> Iterator[Held]:
    hold = Held()
    yield hold
    hold.release.set()  # never leave a thread blocked past the test


def _stop_while_held(server: LiveServer, hold: Held) -> None:
    """Stop `server` while the held call is in its work: the stop must wait for it."""
    assert hold.started.wait(WAIT), "the held call never came"
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    time.sleep(1.0)  # time enough for the lifespan to reach the pools, if it did not wait
    assert stopping.is_alive()
    assert "pools closed" not in hold.events
    hold.release.set()
    stopping.join(WAIT)
    assert not stopping.is_alive()
    assert hold.events == ["work started", "work ended", "pools closed"]


def test_gate_cache_read_ahead__finished_before_the_pools_close(
    servers: ServerFactory, held: Held, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evaluation gate reads a busy key's token again on a worker thread (here, with
    3-s cache entries, in each entry's last 0.75 s); a shutdown meanwhile waits for it."""
    monkeypatch.setattr(Authenticator, "reload", held.wrap(Authenticator.reload))
    server = servers.start(auth_cache_seconds=3)
    held.watch_pools(server, runtime(server).authenticator)
    with new_org_client(server) as org:
        sdk = keyed_project(org)
    context = {"context": {"targetingKey": "u1"}}
    held.armed.set()
    with server.client() as client:
        deadline = time.monotonic() + WAIT
        while not held.started.is_set() and time.monotonic() < deadline:
            r = client.post("/ofrep/v1/evaluate/flags", json=context, headers=bearer(sdk))
            assert r.status_code == 200, r.text  # answered meanwhile, from the cache
            time.sleep(0.05)
    _stop_while_held(server, held)


def test_change_poll__finished_before_the_pools_close(
    servers: ServerFactory, held: Held, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change watcher polls the database on a worker thread every
    `AVSB_CHANGE_POLL_SECONDS`; the lifespan cancels its loop, and the cancellation waits for
    the poll under way (`avsb.server.kit.threads.in_thread`)."""
    monkeypatch.setattr(ChangeWatcher, "poll_once", held.wrap(ChangeWatcher.poll_once))
    server = servers.start(change_poll_seconds=0.1)
    held.watch_pools(server, runtime(server).watcher)
    held.armed.set()
    _stop_while_held(server, held)


def test_stuck_thread__shutdown_goes_on_after_the_grace__exposures_written_first(
    servers: ServerFactory,
    held: Held,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    events_url: str,
) -> None:
    """A change poll stuck in the database (one that stopped answering): the shutdown writes
    the buffered exposures first, waits out `AVSB_SHUTDOWN_GRACE_SECONDS` (1 here) for the
    poll, logs it and closes the stores; the exposures are stored whatever the thread does
    next or however long an orchestrator waits before it kills the process."""
    monkeypatch.setattr(ChangeWatcher, "poll_once", held.wrap(ChangeWatcher.poll_once))
    server = servers.start(
        change_poll_seconds=0.1, shutdown_grace_seconds=1, events_url=events_url,
        exposure_flush_seconds=3600,
    )  # fmt: skip
    held.watch_pools(server, runtime(server).watcher)
    with new_org_client(server) as org:
        pid = f.create_project(org)["id"]
        f.act(org, f.create_experiment(org, pid, traffic_percent=100)["id"], "start")
        sdk = create_sdk_key(org, pid)
        settle(server)
        answer = abc(org, "get_experiments", sdk, {"project_id": pid, "unit_id": "u-last"})
        assert answer.json()["ret_code"] == 100, answer.text
    assert len(runtime(server).evaluation.exposures) == 1  # buffered, not yet written
    held.armed.set()
    assert held.started.wait(WAIT), "the held call never came"
    caplog.set_level(logging.WARNING, logger="avsb.server")
    began = time.monotonic()
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    while "pools closed" not in held.events and time.monotonic() - began < WAIT:
        time.sleep(0.05)
    took = time.monotonic() - began
    assert held.events == ["work started", "pools closed"]  # the poll was still held
    assert took < 8.0, took  # the 1-s grace, not the 30 s the poll is held for
    assert any("change poll still running" in r.getMessage() for r in caplog.records)
    # The process itself ends once the thread returns: asyncio's loop waits for its threads.
    held.release.set()
    stopping.join(WAIT)
    assert not stopping.is_alive()
    store = open_event_store(events_url)
    try:
        rows = store.query(f"SELECT unit_id FROM ev_exposure WHERE project_id = '{pid}'")
    finally:
        store.close()
    assert rows == [("u-last",)]
