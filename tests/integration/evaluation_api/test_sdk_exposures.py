"""`POST /api/sdk/exposures`: an SDK key logs the exposures of its own project's experiments
through the events route's ingestion (deduplicated, counted once in the results); metric
events, other projects' experiments and bad bodies are refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, settle
from tests.support.servers import ApiClient

Json = dict[str, Any]
ROUTE = "/api/sdk/exposures"
AT = "2026-11-22T10:00:00Z"


@dataclass(frozen=True)
class Project:
    key: SdkKey
    experiment: Json

    @property
    def variants(self) -> list[str]:
        return [v["key"] for v in self.experiment["variants"]]


def _project(org: ApiClient) -> Project:
    pid = f.create_project(org)["id"]
    experiment = f.create_experiment(org, pid, key=f.unique("sdk_expo"))
    f.act(org, experiment["id"], "start")
    key = create_sdk_key(org, pid)
    settle(org.server)
    return Project(key, experiment)


@pytest.fixture(scope="module")
def mine(org: ApiClient) -> Project:
    return _project(org)


@pytest.fixture(scope="module")
def theirs(org: ApiClient) -> Project:
    return _project(org)


def _exposure(p: Project, unit: str, variant: str | None = None, **extra: Any) -> Json:
    return {"experiment": p.experiment["key"], "variant": variant or p.variants[0],
            "unit_id": unit, "timestamp": AT, **extra}  # fmt: skip


def _send(org: ApiClient, key: SdkKey, body: object) -> Any:
    return org.post(ROUTE, json=body, headers=bearer(key))


def _error(r: Any, status: int, code: str) -> Json:
    assert r.status_code == status, r.text
    error: Json = r.json()["error"]
    assert error["code"] == code, error
    assert r.headers["x-error-code"] == code
    return error


class TestAccepted:
    def test_batch_twice__stored_once__results_count_each_unit_once(self, org: ApiClient) -> None:
        p = _project(org)
        control, treatment = p.variants
        batch = [_exposure(p, f"u{i}", control if i % 3 else treatment) for i in range(30)]
        # The events route's exposure items, `type` and event ids included, are taken as they are.
        batch[0] |= {"type": "exposure", "event_id": "x:first", "attributes": {"plan": "pro"}}
        first = _send(org, p.key, {"exposures": batch})
        assert first.status_code == 200, first.text
        assert first.json() == {"data": {"accepted": 30, "duplicates": 0, "rejected": []}}
        assert first.headers["x-ratelimit-limit"]  # the evaluation rate limit
        again = _send(org, p.key, {"exposures": batch})
        assert again.json() == {"data": {"accepted": 0, "duplicates": 30, "rejected": []}}
        results = org.get(org.org(f"/experiments/{p.experiment['id']}/results"))
        assert results.status_code == 200, results.text
        assert results.json()["data"]["srm"]["observed"] == [20, 10]
        ingestion = org.get(org.org(f"/experiments/{p.experiment['id']}/ingestion"))
        kinds = {k["kind"]: k for k in ingestion.json()["data"]["kinds"]}
        assert (kinds["exposure"]["count"], kinds["exposure"]["duplicates"]) == (30, 30)

    def test_empty_batch__nothing_to_do(self, org: ApiClient, mine: Project) -> None:
        r = _send(org, mine.key, {"exposures": []})
        assert r.json() == {"data": {"accepted": 0, "duplicates": 0, "rejected": []}}


class TestRejectedPerItem:
    def test_foreign_or_unknown__rejected_with_index__the_rest_stored(
        self, org: ApiClient, mine: Project, theirs: Project
    ) -> None:
        batch = [
            _exposure(mine, "a1"),
            _exposure(theirs, "a2"),  # another project's experiment: not this key's
            _exposure(mine, "a3", variant="no_such_variant"),
            _exposure(mine, "a4", timestamp="yesterday"),
            _exposure(mine, "a5"),
        ]
        r = _send(org, mine.key, {"exposures": batch})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert (data["accepted"], data["duplicates"]) == (2, 0)
        assert [(x["index"], x["code"]) for x in data["rejected"]] == [
            (1, "unknown_experiment"), (2, "unknown_variant"), (3, "invalid_field")
        ]  # fmt: skip
        assert all(x["message"] for x in data["rejected"])
        their_results = org.get(org.org(f"/experiments/{theirs.experiment['id']}/ingestion"))
        kinds = {k["kind"]: k["count"] for k in their_results.json()["data"]["kinds"]}
        assert kinds["exposure"] == 0

    def test_metric_events__refused(self, org: ApiClient, mine: Project) -> None:
        metric = {"type": "metric", "event_name": "purchase", "unit_id": "m1", "value": 9.5,
                  "timestamp": AT}  # fmt: skip
        untyped = {k: v for k, v in metric.items() if k != "type"}
        identify = {"type": "identify", "anonymous_id": "a", "canonical_id": "b", "timestamp": AT}
        r = _send(org, mine.key, {"exposures": [metric, untyped, identify]})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["accepted"] == 0
        assert [(x["index"], x["code"]) for x in data["rejected"]] == [
            (0, "exposures_only"), (1, "unknown_field"), (2, "exposures_only")
        ]  # fmt: skip
        ingestion = org.get(org.org(f"/experiments/{mine.experiment['id']}/ingestion"))
        kinds = {k["kind"]: k["count"] for k in ingestion.json()["data"]["kinds"]}
        assert (kinds["metric"], kinds["identify"]) == (0, 0)


class TestRefused:
    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"exposures": "all"}, "exposures"),
            ({"events": []}, "exposures"),
            ({"exposures": [], "extra": 1}, "extra"),
            ([], "exposures"),
        ],
    )
    def test_bad_body__422_at_the_field(
        self, org: ApiClient, mine: Project, body: object, path: str
    ) -> None:
        error = _error(_send(org, mine.key, body), 422, "validation_error")
        assert error["details"]["fields"][0]["path"] == path

    def test_not_json__422(self, org: ApiClient, mine: Project) -> None:
        headers = {**bearer(mine.key), "Content-Type": "application/json"}
        r = org.post(ROUTE, content=b"{not json", headers=headers)
        assert _error(r, 422, "validation_error")["details"]["fields"][0]["type"] == "json_invalid"

    def test_too_many_items__422_nothing_stored(self, org: ApiClient) -> None:
        p = _project(org)
        batch = [_exposure(p, f"t{i}") for i in range(1001)]
        error = _error(_send(org, p.key, {"exposures": batch}), 422, "validation_error")
        assert error["details"]["fields"][0] == {
            "path": "exposures",
            "message": "A batch may hold at most 1000 exposures, got 1001.",
            "type": "too_long",
        }
        ingestion = org.get(org.org(f"/experiments/{p.experiment['id']}/ingestion"))
        kinds = {k["kind"]: k["count"] for k in ingestion.json()["data"]["kinds"]}
        assert kinds["exposure"] == 0
        assert _send(org, p.key, {"exposures": batch[:1000]}).json()["data"]["accepted"] == 1000

    def test_body_over_the_size_limit__413(self, org: ApiClient, mine: Project) -> None:
        blob = "x" * (org.server.app.state.runtime.settings.max_body_bytes + 1)
        r = _send(org, mine.key, {"exposures": [_exposure(mine, blob)]})
        assert r.status_code == 413, r.text

    def test_revoked_key__401(self, org: ApiClient, mine: Project) -> None:
        doomed = create_sdk_key(org, mine.key.project_id, name="doomed")
        assert _send(org, doomed, {"exposures": []}).status_code == 200
        assert org.post(org.org(f"/tokens/{doomed.id}/revoke")).status_code == 200
        _error(_send(org, doomed, {"exposures": [_exposure(mine, "r1")]}), 401, "unauthorized")

    def test_no_key__401(self, org: ApiClient) -> None:
        r = org.post(ROUTE, json={"exposures": []}, headers={"Authorization": ""})
        _error(r, 401, "unauthorized")

    def test_service_token__403(self, org: ApiClient, mine: Project) -> None:
        """A service token logs exposures through the events route; this one takes SDK keys."""
        r = org.post(ROUTE, json={"exposures": [_exposure(mine, "s1")]})  # the `*` token
        _error(r, 403, "sdk_key_required")
