"""The evaluation-config version of a project moves exactly when a write changes what the
config compiles: once per successful write of a project or of a resource compiled into it,
never for a read, a write that changed nothing, a refused write, or a metric or template.

The bumps happen in the shared resource machinery (``kit.resources`` with the scopes declared
once through ``changes.scoped``), not in each write function, so none can be forgotten."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from avsb.server.db import Database
from avsb.server.kit import changes
from tests.integration.design import factories as f
from tests.support.servers import ApiClient

_CREATE: dict[str, Callable[[ApiClient, str], f.Json]] = {
    "experiments": f.create_experiment,
    "flags": f.create_flag,
    "audiences": f.create_audience,
    "segments": f.create_segment,
    "exclusion-groups": f.create_group,
    "metrics": f.create_metric,
    "templates": f.create_template,
}
_COMPILED = {"experiments", "flags", "audiences", "segments", "exclusion-groups"}


class Versions:
    """The change version of one project's evaluation config, read from the database."""

    def __init__(self, database: Database, project_id: str) -> None:
        self._database = database
        self._scope = f"project:{project_id}"

    def now(self) -> int:
        with self._database.session(write=False) as session:
            return changes.read_all(session).get(self._scope, 0)

    def moved_by(self, write: Callable[[], Any], status: int) -> int:
        before = self.now()
        response = write()
        assert response.status_code == status, response.text
        return self.now() - before


def _path(api: ApiClient, kind: str, resource_id: str, tail: str = "") -> str:
    return api.org(f"/{kind}/{resource_id}{tail}")


def test_project_writes_move_its_config_once(api: ApiClient, database: Database) -> None:
    project = f.create_project(api)
    versions = Versions(database, project["id"])
    assert versions.now() == 1  # the create
    path = api.org(f"/projects/{project['id']}")
    assert versions.moved_by(lambda: api.get(path), 200) == 0
    assert versions.moved_by(lambda: api.patch(path, json={"name": "Renamed"}), 200) == 1
    assert versions.moved_by(lambda: api.patch(path, json={"name": "Renamed"}), 200) == 0
    assert versions.moved_by(lambda: api.patch(path, json={"holdout_percent": 900}), 422) == 0
    assert versions.moved_by(lambda: api.post(path + "/archive"), 200) == 1
    assert versions.moved_by(lambda: api.post(path + "/archive"), 409) == 0
    assert versions.moved_by(lambda: api.post(path + "/restore"), 200) == 1
    restore = path + "/revisions/1/restore"
    assert versions.moved_by(lambda: api.post(restore), 200) == 1
    assert versions.moved_by(lambda: api.delete(path), 204) == 1


@pytest.mark.parametrize("kind", sorted(_CREATE))
def test_resource_writes_move_the_config_exactly_when_compiled(
    api: ApiClient, database: Database, kind: str
) -> None:
    project = f.create_project(api)
    versions = Versions(database, project["id"])
    step = 1 if kind in _COMPILED else 0
    before = versions.now()
    made = _CREATE[kind](api, project["id"])
    assert versions.now() - before == step
    path = _path(api, kind, made["id"])
    assert versions.moved_by(lambda: api.get(path), 200) == 0
    assert versions.moved_by(lambda: api.get(path + "/revisions"), 200) == 0
    assert versions.moved_by(lambda: api.patch(path, json={"name": "Renamed"}), 200) == step
    assert versions.moved_by(lambda: api.patch(path, json={"name": "Renamed"}), 200) == 0
    assert versions.moved_by(lambda: api.patch(path, json={"name": ""}), 422) == 0
    restore = path + "/revisions/1/restore"
    assert versions.moved_by(lambda: api.post(restore), 200) == step
    assert versions.moved_by(lambda: api.delete(path), 204) == step
    assert versions.moved_by(lambda: api.delete(path), 404) == 0


def test_state_changes_move_the_config_once(api: ApiClient, database: Database) -> None:
    """Lifecycle transitions and segment membership are writes too (``resources.touch``)."""
    project = f.create_project(api)
    versions = Versions(database, project["id"])
    experiment = f.create_experiment(api, project["id"])
    start = _path(api, "experiments", experiment["id"], "/start")
    assert versions.moved_by(lambda: api.post(start), 200) == 1
    assert versions.moved_by(lambda: api.post(start), 409) == 0
    segment = f.create_segment(api, project["id"])
    members = _path(api, "segments", segment["id"], "/members")
    assert versions.moved_by(lambda: api.post(members, json={"unit_ids": ["u9"]}), 200) == 1
