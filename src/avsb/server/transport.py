"""One socket write per answer.

uvicorn's HTTP protocol writes an answer's status line and headers when the app sends
`http.response.start`, and its body when the app sends `http.response.body`: two `write`
syscalls per answer. On a keep-alive connection each of them runs the kernel's TCP send path
and, on loopback or a busy peer, wakes the reader: a perf profile of `avsb serve` under ABC
requests put 11% of the process's CPU in that wake-up alone (docs/benchmarks.md, round of 4
December 13:00-13:45).

`OneWriteHttp` is uvicorn's httptools protocol with each connection's transport wrapped in
`HeldWrites`: what the app writes during one step of the event loop is held and written
once, by a callback that runs before the loop next polls its sockets (`loop.call_soon`). An
answer sent in one step (start and body) leaves in one write; a streamed answer leaves chunk
by chunk as its task yields, as before. No data is delayed past the current loop iteration,
and no more than `HELD_BYTES_MAX` is held, so uvicorn's flow control (pause when the
transport's buffer is full) still sees every large write.

It is passed to uvicorn as `Config(http=...)`, which takes a protocol class.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HELD_BYTES_MAX = 64 * 1024
"""Past this many bytes held, they are written at once (a large body, a big stream chunk)."""


class HeldWrites(asyncio.Transport):
    """A transport that holds the writes of one loop step and writes them as one."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        # The caller may reuse a mutable buffer once `write` returns: hold a copy of it.
        self._held.append(data if type(data) is bytes else bytes(data))
        self._held_bytes += len(data)
        if self._held_bytes >= HELD_BYTES_MAX:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_scheduled)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush_scheduled(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Write what is held, in one write, unless the connection is closing."""
        held = self._held
        if not held:
            return
        self._held = []
        self._held_bytes = 0
        if self._inner.is_closing():  # the peer went away: nothing can be written
            return
        self._inner.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._inner.close()

    def abort(self) -> None:
        self._held = []
        self._held_bytes = 0
        self._inner.abort()

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()  # what the old protocol wrote goes first
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + self._held_bytes

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)


class OneWriteHttp(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol, each connection's writes held per loop step."""

    # Typed as uvicorn types it: an HTTP protocol is only ever given a stream transport.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeldWrites(transport, asyncio.get_running_loop()))
