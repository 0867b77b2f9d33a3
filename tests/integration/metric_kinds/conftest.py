"""A server whose events live in the default store of the run (DuckDB, or PostgreSQL when
AVSB_TEST_EVENTS_PG_URL is set), for the metric-kind tests that need one store only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.results.conftest import default_backend, server_on
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client


@pytest.fixture(scope="package")
def kinds_server(
    servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with server_on(servers, default_backend(), tmp_path_factory.mktemp("kinds")) as live:
        yield live


@pytest.fixture
def events_api(kinds_server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(kinds_server) as client:
        yield client
