"""Blocking work on a worker thread that a shutdown waits for.

`asyncio.to_thread` (and Starlette's `run_in_threadpool`) stop waiting as soon as the awaiting
task is cancelled, but the thread runs on. A background loop cancelled at shutdown would let
the lifespan close the database pools under a thread still inside a transaction: its
connection then goes back to a pool that is already closed and is never closed itself (on
PostgreSQL, a backend left open until the process exits), and a write it had not yet
committed may be lost. `in_thread` makes the cancellation wait for the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

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
