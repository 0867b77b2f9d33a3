from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from avsb.server.events import EventStore
from tests.support.event_backends import BACKENDS, fresh_store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    with fresh_store(str(request.param), tmp_path) as opened:
        yield opened
