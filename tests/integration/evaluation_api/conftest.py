from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, create_sdk_key, settle
from tests.support.servers import ApiClient, LiveServer, new_org_client


@pytest.fixture(scope="module")
def org(live_server: LiveServer) -> Iterator[ApiClient]:
    """A fresh organisation shared by one test module (its `*` token client)."""
    with new_org_client(live_server) as client:
        yield client


@pytest.fixture(scope="module")
def basic(org: ApiClient, live_server: LiveServer) -> f.Json:
    """One project: a layer whose single experiment takes all traffic, an empty layer, an
    experiment in its own layer for an audience (country US), flags (bound and standalone)
    and an SDK key."""
    project = f.create_project(org)
    pid = project["id"]
    layer = f.create_group(org, pid)
    empty = f.create_group(org, pid)
    variants = f.variants({"color": "red", "size": "20"}, {"color": "blue", "size": "24"})
    button = f.create_experiment(
        org, pid, exclusion_group_id=layer["id"], traffic_percent=100, variants=variants
    )
    us = f.create_audience(org, pid)
    targeted = f.create_experiment(org, pid, audience_id=us["id"], traffic_percent=100)
    for experiment in (button, targeted):
        f.act(org, experiment["id"], "start")
    bound = f.create_flag(
        org, pid, experiment_id=button["id"], experiment_param="color", default_value="grey"
    )
    plain = f.create_flag(org, pid, type="boolean", default_value=True)
    numeric = f.create_flag(org, pid, type="number", default_value=20)
    blob = f.create_flag(org, pid, type="json", default_value={"a": [1, 2]})
    settle(live_server)
    return {
        "project": project,
        "layer": layer,
        "empty": empty,
        "button": button,
        "targeted": targeted,
        "flags": {"bound": bound, "plain": plain, "numeric": numeric, "blob": blob},
        "key": create_sdk_key(org, pid),
    }


@pytest.fixture(scope="module")
def key(basic: f.Json) -> SdkKey:
    sdk_key: SdkKey = basic["key"]
    return sdk_key


@pytest.fixture
def events_url(tmp_path: Path) -> Iterator[str]:
    """A fresh event store: a PostgreSQL schema when AVSB_TEST_EVENTS_PG_URL is set, else a
    DuckDB file of this test."""
    if os.environ.get("AVSB_TEST_EVENTS_PG_URL"):
        from tests.support.event_backends import _pg_schema

        with _pg_schema() as url:
            yield url
        return
    yield str(tmp_path / "events.duckdb")
