from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.servers import ApiClient, new_org_client

PUBLIC_URL = "https://93.184.215.14/hooks/avsb"


def _create(api: ApiClient, **overrides: Any) -> dict[str, Any]:
    body = {"url": PUBLIC_URL, "event_types": ["experiment.started"], **overrides}
    response = api.post(api.org("/webhooks"), json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [f["path"] for f in response.json()["error"]["details"]["fields"]]


class TestCreate:
    def test_create__valid__secret_shown_once(self, api: ApiClient) -> None:
        created = _create(api, description="ops", event_types=["flag.updated", "srm.detected"])

        secret = created["secret"]
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
        assert created["id"].startswith("whk_")
        assert created["project_id"] is None
        assert created["enabled"] is True
        assert created["event_types"] == ["flag.updated", "srm.detected"]
        got = api.get(api.org(f"/webhooks/{created['id']}"))
        assert got.status_code == 200
        assert "secret" not in got.json()["data"]
        assert secret not in got.text

    def test_create__wildcard_with_others__only_wildcard(self, api: ApiClient) -> None:
        created = _create(api, event_types=["flag.created", "*"])
        assert created["event_types"] == ["*"]

    def test_create__project_scoped__kept(self, api: ApiClient) -> None:
        project = api.post(api.org("/projects"), json={"key": "web", "name": "Web"}).json()["data"]
        created = _create(api, project_id=project["id"])
        assert created["project_id"] == project["id"]
        listed = api.get(api.org("/webhooks"), params={"project_id": project["id"]}).json()
        assert [w["id"] for w in listed["data"]] == [created["id"]]

    @pytest.mark.parametrize(
        "url",
        [
            "not a url",
            "ftp://93.184.215.14/x",
            "file:///etc/passwd",
            "/relative/path",
            "http://93.184.215.14:99999/x",
            "http://93.184.215.14:0/x",
            "http://xn--/x",
            "http://[zz]/x",
            "http://93.184.215.14/x#fragment",
            "http://127.0.0.1/hook",
            "http://127.1/hook",
            "http://localhost:8008/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://100.64.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/hook",
            "http://224.0.0.1/hook",
            "http://240.0.0.1/hook",
            "http://[::1]/hook",
            "http://[::]/hook",
            "http://[fe80::1]/hook",
            "http://[fd00::1]/hook",
            "http://[ff02::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://[::ffff:10.0.0.1]/hook",
            "http://[64:ff9b::a00:1]/hook",
        ],
    )
    def test_create__bad_or_private_url__422_on_url(self, api: ApiClient, url: str) -> None:
        response = api.post(api.org("/webhooks"), json={"url": url, "event_types": ["*"]})
        assert _fields(response) == ["url"]

    def test_create__public_ipv6__accepted(self, api: ApiClient) -> None:
        assert _create(api, url="https://[2606:2800:220:1:248:1893:25c8:1946]/h")["url"]

    @pytest.mark.parametrize(
        "events", [["experiment.created"], [], ["*", "nope"], ["FLAG.CREATED"], "flag.created"]
    )
    def test_create__bad_event_types__422(self, api: ApiClient, events: Any) -> None:
        response = api.post(api.org("/webhooks"), json={"url": PUBLIC_URL, "event_types": events})
        assert all(path.startswith("event_types") for path in _fields(response))

    def test_create__unknown_field__422(self, api: ApiClient) -> None:
        body = {"url": PUBLIC_URL, "event_types": ["*"], "secret": "whsec_mine"}
        assert _fields(api.post(api.org("/webhooks"), json=body)) == ["secret"]

    def test_create__project_of_other_org__422(self, api: ApiClient) -> None:
        with new_org_client(api.server) as other:
            project = other.post(other.org("/projects"), json={"key": "p", "name": "P"})
        body = {"url": PUBLIC_URL, "event_types": ["*"], "project_id": project.json()["data"]["id"]}
        assert _fields(api.post(api.org("/webhooks"), json=body)) == ["project_id"]

    def test_create__read_only_token__403(self, api: ApiClient) -> None:
        with new_org_client(api.server, scopes=["webhooks:read"]) as reader:
            response = reader.post(reader.org("/webhooks"), json={"url": PUBLIC_URL})
        assert response.status_code == 403
        assert response.json()["error"]["details"]["missingScope"] == "webhooks:write"


class TestReadAndEdit:
    def test_get__if_none_match__304(self, api: ApiClient) -> None:
        created = _create(api)
        first = api.get(api.org(f"/webhooks/{created['id']}"))
        again = api.get(
            api.org(f"/webhooks/{created['id']}"), headers={"If-None-Match": first.headers["ETag"]}
        )
        assert again.status_code == 304

    def test_patch__if_match__applies_then_stale_412(self, api: ApiClient) -> None:
        created = _create(api)
        path = api.org(f"/webhooks/{created['id']}")
        etag = api.get(path).headers["ETag"]

        patched = api.patch(
            path,
            json={"event_types": ["*"], "enabled": False, "description": "paused"},
            headers={"If-Match": etag},
        )
        stale = api.patch(path, json={"description": "x"}, headers={"If-Match": etag})

        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["enabled"] is False
        assert patched.json()["data"]["event_types"] == ["*"]
        assert patched.headers["ETag"] != etag
        assert stale.status_code == 412

    def test_patch__private_url__422_and_unchanged(self, api: ApiClient) -> None:
        created = _create(api)
        path = api.org(f"/webhooks/{created['id']}")
        assert _fields(api.patch(path, json={"url": "http://[::ffff:192.168.1.1]/x"})) == ["url"]
        assert api.get(path).json()["data"]["url"] == PUBLIC_URL

    def test_patch__null_url__422(self, api: ApiClient) -> None:
        created = _create(api)
        assert _fields(api.patch(api.org(f"/webhooks/{created['id']}"), json={"url": None})) == [
            "url"
        ]

    def test_list__paginated_and_filtered(self, api: ApiClient) -> None:
        ids = [_create(api)["id"] for _ in range(3)]
        api.patch(api.org(f"/webhooks/{ids[1]}"), json={"enabled": False})

        first = api.get(api.org("/webhooks"), params={"limit": 2}).json()
        second = api.get(
            api.org("/webhooks"), params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        disabled = api.get(api.org("/webhooks"), params={"enabled": "false"}).json()

        assert [w["id"] for w in first["data"] + second["data"]] == ids
        assert second["has_more"] is False
        assert [w["id"] for w in disabled["data"]] == [ids[1]]
        assert all("secret" not in w for w in first["data"])

    def test_rotate_secret__new_secret_once(self, api: ApiClient) -> None:
        created = _create(api)
        rotated = api.post(api.org(f"/webhooks/{created['id']}/rotate-secret"))
        assert rotated.status_code == 200
        new_secret = rotated.json()["data"]["secret"]
        assert new_secret.startswith("whsec_")
        assert new_secret != created["secret"]
        assert rotated.json()["data"]["version"] > created["version"]

    def test_delete__then_404(self, api: ApiClient) -> None:
        created = _create(api)
        path = api.org(f"/webhooks/{created['id']}")
        assert api.delete(path).status_code == 204
        assert api.get(path).status_code == 404
        assert api.get(path + "/deliveries").status_code == 404


class TestHistory:
    def test_revisions__restore__previous_state(self, api: ApiClient) -> None:
        created = _create(api, description="v1")
        path = api.org(f"/webhooks/{created['id']}")
        api.patch(path, json={"description": "v2", "event_types": ["flag.deleted"]})

        revisions = api.get(path + "/revisions").json()["data"]
        restored = api.post(path + "/revisions/1/restore")

        assert [r["action"] for r in revisions] == ["webhook.created", "webhook.updated"]
        assert all("signing_secret" not in r["snapshot"] for r in revisions)
        assert restored.status_code == 200, restored.text
        assert restored.json()["data"]["description"] == "v1"
        assert restored.json()["data"]["event_types"] == ["experiment.started"]

    def test_audit__every_change__no_secret(self, api: ApiClient) -> None:
        created = _create(api)
        path = api.org(f"/webhooks/{created['id']}")
        api.patch(path, json={"description": "changed"})
        rotated = api.post(path + "/rotate-secret").json()["data"]["secret"]
        api.delete(path)

        audit = api.get(api.org("/audit"), params={"resource_id": created["id"]})

        actions = [e["action"] for e in audit.json()["data"]]
        assert actions == [
            "webhook.created",
            "webhook.updated",
            "webhook.secret_rotated",
            "webhook.deleted",
        ]
        assert created["secret"] not in audit.text
        assert rotated not in audit.text


class TestTenancy:
    def test_other_org__404_everywhere(self, api: ApiClient) -> None:
        created = _create(api)
        with new_org_client(api.server) as other:
            theirs = other.org(f"/webhooks/{created['id']}")
            answers = [
                other.get(theirs),
                other.patch(theirs, json={"description": "x"}),
                other.delete(theirs),
                other.post(theirs + "/rotate-secret"),
                other.post(theirs + "/test"),
                other.get(theirs + "/deliveries"),
                other.get(theirs + "/revisions"),
                other.get(api.org(f"/webhooks/{created['id']}")),
            ]
        assert [a.status_code for a in answers] == [404] * len(answers)
        assert api.get(api.org(f"/webhooks/{created['id']}")).status_code == 200
