"""Running an app under uvicorn as `avsb serve` and `avsb relay` do: on SIGINT / SIGTERM the
open event streams end at once (each answers its last chunk), so uvicorn's wait for open
connections is short; requests still running after `AVSB_SHUTDOWN_GRACE_SECONDS` are
cancelled."""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from avsb.server.config import Settings
from avsb.server.transport import OneWriteHttp


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._on_exit()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings of every AvsB server: `avsb serve` (one process or its workers),
    `avsb relay` and the test suite's servers."""
    return {
        "log_level": settings.log_level,
        "access_log": False,
        "proxy_headers": False,  # X-Forwarded-For is AvsB's to judge: AVSB_TRUSTED_PROXIES
        # No `server: uvicorn` on every answer: it names the software to whoever probes for
        # it, and it is one header more for uvicorn to check and write per request.
        "server_header": False,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # Each answer in one socket write instead of two (start, then body): avsb.server.transport
        "http": OneWriteHttp,
    }


def serve(app: ASGIApp, settings: Settings, on_exit: Callable[[], None]) -> None:
    """Serve `app` on the settings' host and port until a signal; `on_exit` runs on it."""
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, **uvicorn_options(settings)
    )
    _Server(config, on_exit).run()
