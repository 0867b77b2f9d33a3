"""`HeldWrites` (avsb.server.transport): the writes of one loop step leave as one write.

The inner transport here records what reaches it, in place of a socket's; the served
behaviour (one segment per answer) is tested against a real `avsb serve` in
tests/integration/foundation/test_one_write.py.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from avsb.server.transport import HELD_BYTES_MAX, HeldWrites


class Recording(asyncio.Transport):
    """A transport that keeps every write, close and abort it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: Any) -> None:
        if self.closing:
            raise RuntimeError("write after close")
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol
        self.events.append("set_protocol")

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def on_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test on a fresh event loop (the loop `HeldWrites` schedules its write on)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


def _held() -> tuple[HeldWrites, Recording]:
    inner = Recording()
    return HeldWrites(inner, asyncio.get_running_loop()), inner


async def _next_iteration() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@on_loop
async def test_writes_of_one_step__leave_as_one_write() -> None:
    held, inner = _held()
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    held.write(b"ok")
    assert inner.writes == []  # nothing before the loop runs its callbacks
    assert held.get_write_buffer_size() == 7 + 40
    await _next_iteration()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    assert held.get_write_buffer_size() == 7


@on_loop
async def test_writes_of_separate_steps__are_not_held_past_their_step() -> None:
    held, inner = _held()
    held.write(b"data: 1\n\n")
    await _next_iteration()
    assert inner.writes == [b"data: 1\n\n"]
    held.write(b"data: 2\n\n")
    await _next_iteration()
    assert inner.writes == [b"data: 1\n\n", b"data: 2\n\n"]


@on_loop
async def test_a_mutable_buffer__is_copied_when_written() -> None:
    held, inner = _held()
    buffer = bytearray(b"abc")
    held.write(buffer)
    held.write(memoryview(b"def"))
    buffer[:] = b"xyz"
    await _next_iteration()
    assert inner.writes == [b"abcdef"]


@on_loop
async def test_past_the_limit__held_bytes_are_written_at_once() -> None:
    held, inner = _held()
    held.write(b"h")
    held.write(b"x" * HELD_BYTES_MAX)
    # written in the same step, so the inner transport's flow control sees it
    assert inner.writes == [b"h" + b"x" * HELD_BYTES_MAX]
    held.write(b"tail")
    assert inner.writes[1:] == []
    await _next_iteration()
    assert inner.writes[1:] == [b"tail"]


@on_loop
async def test_close__writes_what_is_held_first() -> None:
    held, inner = _held()
    held.write(b"last chunk")
    held.close()
    assert inner.events == ["write", "close"]
    assert inner.writes == [b"last chunk"]
    await _next_iteration()  # the scheduled write finds nothing left and writes nothing
    assert inner.events == ["write", "close"]
    assert held.is_closing()


@on_loop
async def test_abort__drops_what_is_held() -> None:
    held, inner = _held()
    held.write(b"never sent")
    held.abort()
    await _next_iteration()
    assert inner.events == ["abort"]


@on_loop
async def test_nothing_written__an_empty_write_or_a_peer_gone() -> None:
    held, inner = _held()
    held.write(b"")  # ignored
    await _next_iteration()
    assert inner.writes == []
    held.write(b"answer")
    inner.closing = True  # the connection was lost before the loop ran the write
    await _next_iteration()  # dropped without an error
    assert inner.writes == []


@on_loop
async def test_set_protocol__writes_what_the_old_protocol_wrote_first() -> None:
    held, inner = _held()
    held.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    new = asyncio.Protocol()
    held.set_protocol(new)
    assert inner.events == ["write", "set_protocol"]
    assert inner.protocol is new


@on_loop
async def test_extra_info__is_the_inner_transports() -> None:
    held, _ = _held()
    assert held.get_extra_info("peername") == ("127.0.0.1", 5)
    assert held.get_extra_info("socket", "none") == "none"
