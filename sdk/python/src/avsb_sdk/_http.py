"""The HTTP client both SDK clients use: one base URL, one bearer token."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

import httpx


def bearer_client(
    base_url: str, token: str, timeout: float, transport: httpx.BaseTransport | None
) -> httpx.Client:
    """An httpx client sending `Authorization: Bearer <token>` to `base_url`."""
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        transport=transport,
    )


class Closing(ABC):
    """A client used as a context manager: `close()` on the way out."""

    @abstractmethod
    def close(self) -> None: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
