"""A background thread that waits on a condition until it is told to stop."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class BackgroundLoop(ABC):
    """Runs `_run` in one daemon thread; `_run` waits on `self._cond` and returns once
    `self._stopping` is set by `stop()`."""

    thread_name = "avsb-background"

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _run(self) -> None: ...

    def start(self) -> None:
        """Start the thread."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for it (work in progress finishes first)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
