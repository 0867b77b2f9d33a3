"""Blocking work on a worker thread that a shutdown waits for.

`asyncio.to_thread` (and Starlette's `run_in_threadpool`) stop waiting as soon as the awaiting
task is cancelled, but the thread runs on. A background loop cancelled at shutdown would let
the lifespan close the database pools under a thread still inside a transaction: its
connection then goes back to a pool that is already closed and is never closed itself (on
PostgreSQL, a backend left open until the process exits), and a write it had not yet
committed may be lost. `in_thread` makes the cancellation wait for the thread, and
`ended_within` bounds that wait at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger("avsb.server")
P = ParamSpec("P")
T = TypeVar("T")


async def in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on a worker thread. If the awaiting task is cancelled, the
    cancellation takes effect once the thread has returned (a thread cannot be stopped)."""
    running = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait((running,))  # a second cancellation stops this wait, not the thread
        if not running.cancelled():
            running.exception()  # retrieved: its failure is moot once the caller is cancelled
        raise


async def ended_within(futures: Collection[asyncio.Future[Any]], seconds: float, what: str) -> None:
    """Wait up to `seconds` for `futures` to end (at shutdown: background loops already
    cancelled, whose `in_thread` calls are finishing, or worker-thread work under way).
    Those still running then are cancelled and left to their threads, and logged: a stuck
    call (a database that stopped answering) must not hold the stores open indefinitely.
    The process still exits only once such a thread returns (asyncio's loop waits for its
    threads), which is why the lifespan writes the exposures and counts before this wait."""
    if not futures:
        return
    _, late = await asyncio.wait(futures, timeout=seconds)
    if late:
        log.warning(
            "shutdown: %d %s still running after %g s, left to their threads", len(late), what,
            seconds,
        )  # fmt: skip
        for future in late:
            future.cancel()  # ends an `in_thread` wait at once; the thread runs on
        await asyncio.wait(late)
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            log.warning("shutdown: %s failed: %s", what, future.exception())
