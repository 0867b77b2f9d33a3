"""Projects with revisions and restore; the audit log with filters and streamed exports."""

from __future__ import annotations

import csv
import io

import orjson

from tests.support.servers import ApiClient, new_org_client


def _project(api: ApiClient, key: str = "checkout", **extra: object) -> dict[str, object]:
    r = api.post(api.org("/projects"), json={"key": key, "name": key.title(), **extra})
    assert r.status_code == 201, r.text
    data: dict[str, object] = r.json()["data"]
    return data


class TestProjects:
    def test_crud(self, api: ApiClient) -> None:
        p = _project(api, holdout_percent=5)
        assert p["holdout_percent"] == 5.0
        r = api.patch(api.org(f"/projects/{p['id']}"), json={"description": "the funnel"})
        assert r.json()["data"]["description"] == "the funnel"
        assert api.delete(api.org(f"/projects/{p['id']}")).status_code == 204
        assert api.get(api.org(f"/projects/{p['id']}")).status_code == 404

    def test_salt__defaults_to_id_or_given_and_is_fixed(self, api: ApiClient) -> None:
        plain = _project(api, "plain")
        assert plain["salt"] == plain["id"]
        salted = _project(api, "salted", salt="legacy:holdout-2024")
        assert salted["salt"] == "legacy:holdout-2024"
        r = api.patch(api.org(f"/projects/{salted['id']}"), json={"salt": "other"})
        assert r.status_code == 422

    def test_duplicate_key__409_conflict(self, api: ApiClient) -> None:
        _project(api, "same")
        r = api.post(api.org("/projects"), json={"key": "same", "name": "Again"})
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "conflict"
        other = _project(api, "other")
        r = api.patch(api.org(f"/projects/{other['id']}"), json={"key": "same"})
        assert r.status_code == 409

    def test_same_key_in_two_orgs__allowed(self, api: ApiClient) -> None:
        _project(api, "shared")
        with new_org_client(api.server) as other:
            assert (
                other.post(other.org("/projects"), json={"key": "shared", "name": "S"}).status_code
                == 201
            )

    def test_archive_restore_and_filters(self, api: ApiClient) -> None:
        a, b = _project(api, "alpha"), _project(api, "beta")
        r = api.post(api.org(f"/projects/{a['id']}/archive"))
        assert r.json()["data"]["archived"] is True
        assert api.post(api.org(f"/projects/{a['id']}/archive")).status_code == 409

        def keys(q: str) -> list[str]:
            return [p["key"] for p in api.get(api.org(f"/projects{q}")).json()["data"]]

        assert keys("?archived=true") == ["alpha"]
        assert keys("?archived=false") == ["beta"]
        assert keys("?key_prefix=be") == ["beta"]
        assert keys("?key_prefix=%25") == []  # LIKE wildcards are literal
        r = api.post(api.org(f"/projects/{a['id']}/restore"))
        assert r.json()["data"]["archived"] is False
        assert b["id"]

    def test_revisions_and_restore(self, api: ApiClient) -> None:
        p = _project(api, "rev")
        api.patch(api.org(f"/projects/{p['id']}"), json={"name": "Second"})
        api.patch(api.org(f"/projects/{p['id']}"), json={"name": "Third", "holdout_percent": 10})
        revisions = api.get(api.org(f"/projects/{p['id']}/revisions")).json()["data"]
        assert [r["number"] for r in revisions] == [1, 2, 3]
        assert revisions[0]["snapshot"]["name"] == "Rev"
        assert revisions[0]["action"] == "project.created"
        restored = api.post(api.org(f"/projects/{p['id']}/revisions/1/restore"))
        assert restored.status_code == 200
        data = restored.json()["data"]
        assert (data["name"], data["holdout_percent"]) == ("Rev", 0.0)
        revisions = api.get(api.org(f"/projects/{p['id']}/revisions")).json()["data"]
        assert revisions[-1]["action"] == "project.restored"
        assert api.post(api.org(f"/projects/{p['id']}/revisions/99/restore")).status_code == 404


class TestAudit:
    def test_change__event_with_actor_ip_request_id_diff(self, api: ApiClient) -> None:
        p = _project(api, "aud")
        r = api.patch(
            api.org(f"/projects/{p['id']}"),
            json={"name": "Renamed"},
            headers={"X-Request-ID": "rq-77"},
        )
        assert r.status_code == 200
        events = api.get(api.org(f"/audit?resource_id={p['id']}")).json()["data"]
        assert [e["action"] for e in events] == ["project.created", "project.updated"]
        updated = events[1]
        assert updated["diff"] == {"name": {"from": "Aud", "to": "Renamed"}}
        assert updated["request_id"] == "rq-77"
        assert updated["source"] == "api"
        assert updated["actor_type"] == "token"
        assert updated["actor_name"] == "test"
        assert updated["ip"] == "127.0.0.1"

    def test_failed_change__writes_no_event(self, api: ApiClient) -> None:
        _project(api, "one")
        before = len(api.get(api.org("/audit")).json()["data"])
        assert api.post(api.org("/projects"), json={"key": "one", "name": "x"}).status_code == 409
        assert len(api.get(api.org("/audit")).json()["data"]) == before

    def test_filters(self, api: ApiClient) -> None:
        p = _project(api, "f")
        api.post(api.org(f"/projects/{p['id']}/archive"))

        def actions(q: str) -> list[str]:
            return [e["action"] for e in api.get(api.org(f"/audit{q}")).json()["data"]]

        assert actions("?action=project.archived") == ["project.archived"]
        assert set(actions("?action=project.*")) == {"project.created", "project.archived"}
        assert "token.created" in actions("?resource_type=token")
        assert actions("?since=2999-01-01T00:00:00Z") == []

    def test_secrets_never_in_audit(self, api: ApiClient) -> None:
        created = api.post(api.org("/tokens"), json={"name": "s", "scopes": ["audit:read"]})
        secret = created.json()["data"]["token"]
        api.post(api.org(f"/tokens/{created.json()['data']['id']}/rotate"))
        assert secret not in api.get(api.org("/audit")).text

    def test_export_jsonl_and_csv__streamed_all_rows(self, api: ApiClient) -> None:
        for i in range(12):
            _project(api, f"x{i}")
        with api.stream("GET", api.org("/audit/export?format=jsonl")) as r:
            assert r.headers["content-type"].startswith("application/x-ndjson")
            assert "content-length" not in r.headers  # streamed, not built in memory
            lines = [orjson.loads(line) for line in r.iter_lines() if line]
        listed = api.get(api.org("/audit?limit=1000")).json()["data"]
        assert [e["id"] for e in lines] == [e["id"] for e in listed]
        r = api.get(api.org("/audit/export?format=csv&action=project.created"))
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == 12
        assert orjson.loads(rows[0]["diff"])["key"]["to"] == "x0"

    def test_export_other_org__404(self, api: ApiClient) -> None:
        with new_org_client(api.server) as other:
            assert other.get(api.org("/audit/export")).status_code == 404
