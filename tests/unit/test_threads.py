"""`avsb.server.kit.threads`: a cancelled `in_thread` call waits for its thread; `ended_within`
bounds that wait and leaves a stuck thread behind, logged."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from avsb.server.kit.threads import ended_within, in_thread


def test_in_thread__returns_and_raises_as_the_function() -> None:
    def fails() -> None:
        raise ValueError("no")

    async def main() -> None:
        assert await in_thread(lambda a, b: a + b, 2, b=3) == 5
        with pytest.raises(ValueError, match="no"):
            await in_thread(fails)

    asyncio.run(main())


def test_cancelled__ends_only_once_the_thread_has_returned() -> None:
    """`asyncio.to_thread` would end the task at once while the thread ran on."""
    started, release, returned = threading.Event(), threading.Event(), threading.Event()

    def work() -> None:
        started.set()
        release.wait(10)
        returned.set()

    async def main() -> float:
        task = asyncio.ensure_future(in_thread(work))
        while not started.is_set():
            await asyncio.sleep(0.005)
        task.cancel()
        asyncio.get_running_loop().call_later(0.3, release.set)
        began = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert returned.is_set()
        return time.monotonic() - began

    assert asyncio.run(main()) >= 0.25


def test_ended_within__a_stuck_one_left_behind_after_the_bound__logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    async def main() -> tuple[bool, bool, float]:
        quick = asyncio.ensure_future(in_thread(time.sleep, 0.05))
        stuck = asyncio.ensure_future(in_thread(release.wait, 10))
        await asyncio.sleep(0.01)
        for task in (quick, stuck):
            task.cancel()
        began = time.monotonic()
        await ended_within([quick, stuck], 0.3, "jobs")
        took = time.monotonic() - began
        release.set()  # let the thread end before the loop closes
        return quick.cancelled(), stuck.done(), took

    caplog.set_level(logging.WARNING, logger="avsb.server")
    quick_cancelled, stuck_done, took = asyncio.run(main())
    assert quick_cancelled
    assert stuck_done
    assert 0.25 <= took < 3.0
    assert [r.getMessage() for r in caplog.records] == [
        "shutdown: 1 jobs still running after 0.3 s, left to their threads"
    ]
