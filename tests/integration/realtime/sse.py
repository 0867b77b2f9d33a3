"""A server-sent-events client for the tests: reads a stream in a thread, timestamps each
event and comment as it arrives, and can be closed from the test's thread."""

from __future__ import annotations

import contextlib
import http.client
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Event:
    id: str | None
    event: str
    data: str
    at: float = field(compare=False)


class SseClient:
    def __init__(self, base_url: str, path: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        self._conn.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.response = self._conn.getresponse()
        self.status = self.response.status
        self.events: queue.Queue[Event] = queue.Queue()
        self.comments: queue.Queue[tuple[str, float]] = queue.Queue()
        self.ended = threading.Event()
        self._thread: threading.Thread | None = None
        if self.status == 200:
            assert self._conn.sock is not None
            self._conn.sock.settimeout(None)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        else:
            self.body = self.response.read()
            self._conn.close()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        data: list[str] = []
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    return
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if data:  # as EventSource: a block without data is no event
                        event = Event(fields.get("id"), fields.get("event", "message"),
                                      "\n".join(data), time.monotonic())  # fmt: skip
                        self.events.put(event)
                    fields, data = {}, []
                elif line.startswith(":"):
                    self.comments.put((line[1:].strip(), time.monotonic()))
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data":
                        data.append(value)
                    else:
                        fields[name] = value
        except (OSError, ValueError, http.client.HTTPException):
            return
        finally:
            self.ended.set()

    def event(self, timeout: float = 5.0) -> Event:
        return self.events.get(timeout=timeout)

    def no_event(self, within: float) -> bool:
        try:
            self.events.get(timeout=within)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._conn.close()

    def __enter__(self) -> SseClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
