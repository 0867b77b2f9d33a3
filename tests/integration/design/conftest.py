from __future__ import annotations

from typing import Any

import pytest

from avsb.server.webhooks import service as webhook_service


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Webhook events emitted by the (in-process) test server, in order: (type, data)."""
    events: list[tuple[str, dict[str, Any]]] = []
    real = webhook_service.emit

    def spy(session: Any, org_id: str, event_type: str, data: dict[str, Any], *rest: Any) -> None:
        events.append((event_type, data))
        real(session, org_id, event_type, data, *rest)

    monkeypatch.setattr(webhook_service, "emit", spy)
    return events
