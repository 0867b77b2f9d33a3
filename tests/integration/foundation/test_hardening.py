"""Issue #10, security and contract items: each fault class through real HTTP (and the CLI).

Run on SQLite by default and on PostgreSQL with ``AVSB_TEST_DATABASE_URL`` (conftest).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from avsb.server.db import Database
from avsb.server.models import ApiToken, IdempotencyRecord
from tests.integration.design import factories as f
from tests.support.servers import ApiClient, LiveServer

SDK_RIGHTS = [
    "flags:read",
    "experiments:read",
    "audiences:read",
    "segments:read",
    "exclusion_groups:read",
    "events:write",
]
PUBLIC_URL = "https://93.184.215.14/hooks/avsb"
JSON = {"Content-Type": "application/json"}


def _token(api: ApiClient, scopes: list[str], **body: Any) -> dict[str, Any]:
    r = api.post(api.org("/tokens"), json={"name": "t", "scopes": scopes, **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def _as(api: ApiClient, secret: str) -> httpx.Client:
    return httpx.Client(base_url=api.server.url, headers={"Authorization": f"Bearer {secret}"})


def _refused(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code
    assert r.headers["X-Error-Code"] == code
    return error


class TestNoEscalationThroughTokens:
    """Item 1: every action on a token needs the rights the target carries."""

    @pytest.mark.parametrize("grace", [0, 3600])
    def test_rotate_of_stronger_token__403_and_victim_untouched(
        self, api: ApiClient, grace: int
    ) -> None:
        victim = _token(api, ["*"])
        manager = _token(api, ["tokens:write"])
        with _as(api, manager["token"]) as c:
            r = c.post(
                api.org(f"/tokens/{victim['id']}/rotate"), json={"grace_period_seconds": grace}
            )
        error = _refused(r, 403, "scope_escalation")
        assert "*" in error["details"]["scopes"]
        assert "avsb_svc_" not in r.text
        with _as(api, victim["token"]) as c:
            assert c.get("/api/me").json()["data"]["token_id"] == victim["id"]
        after = api.get(api.org(f"/tokens/{victim['id']}")).json()["data"]
        assert after["previous_expires_at"] is None
        assert after["token_prefix"] == victim["token_prefix"]

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("POST", "/revoke", None),
            ("PATCH", "", {"expires_at": "2099-01-01T00:00:00Z"}),
            ("PATCH", "", {"name": "renamed"}),
            ("DELETE", "", None),
        ],
    )
    def test_revoke_edit_delete_of_stronger_token__403(
        self, api: ApiClient, method: str, suffix: str, body: dict[str, Any] | None
    ) -> None:
        victim = _token(api, ["projects:write", "tokens:write"])
        manager = _token(api, ["tokens:write"])
        with _as(api, manager["token"]) as c:
            r = c.request(method, api.org(f"/tokens/{victim['id']}{suffix}"), json=body)
        error = _refused(r, 403, "scope_escalation")
        assert error["details"]["scopes"] == ["projects:write"]
        unchanged = api.get(api.org(f"/tokens/{victim['id']}")).json()["data"]
        assert (unchanged["status"], unchanged["name"], unchanged["expires_at"]) == (
            "active",
            "t",
            None,
        )

    def test_tokens_it_covers__rotate_revoke_edit_allowed(self, api: ApiClient) -> None:
        manager = _token(api, ["tokens:write", "projects:write"])
        weaker = _token(api, ["projects:read"])
        with _as(api, manager["token"]) as c:
            path = api.org(f"/tokens/{weaker['id']}")
            assert c.patch(path, json={"name": "n2"}).status_code == 200
            rotated = c.post(path + "/rotate", json={"grace_period_seconds": 60})
            assert rotated.status_code == 200, rotated.text
            assert rotated.json()["data"]["token"] != weaker["token"]
            assert c.post(path + "/revoke").status_code == 200
            # and itself
            own = c.post(api.org(f"/tokens/{manager['id']}/rotate"))
            assert own.status_code == 200, own.text

    def test_sdk_key__minting_needs_what_the_key_reaches(self, api: ApiClient) -> None:
        project = f.create_project(api)
        body = {"name": "web", "kind": "sdk", "project_id": project["id"]}
        manager = _token(api, ["tokens:write"])
        with _as(api, manager["token"]) as c:
            r = c.post(api.org("/tokens"), json=body)
        error = _refused(r, 403, "scope_escalation")
        assert sorted(error["details"]["scopes"]) == sorted(SDK_RIGHTS)
        able = _token(api, ["tokens:write", *SDK_RIGHTS])
        with _as(api, able["token"]) as c:
            made = c.post(api.org("/tokens"), json=body)
            assert made.status_code == 201, made.text
            key_id = made.json()["data"]["id"]
        # and managing an SDK key needs the same rights
        with _as(api, manager["token"]) as c:
            _refused(c.post(api.org(f"/tokens/{key_id}/rotate")), 403, "scope_escalation")
            _refused(c.post(api.org(f"/tokens/{key_id}/revoke")), 403, "scope_escalation")

    def test_sdk_key_with_scopes__422(self, api: ApiClient) -> None:
        project = f.create_project(api)
        r = api.post(
            api.org("/tokens"),
            json={"name": "w", "kind": "sdk", "project_id": project["id"], "scopes": ["*"]},
        )
        assert f.fields(r) == ["scopes"]


def test_token_patch__null_fields_422_not_500(api: ApiClient) -> None:
    """Found by schemathesis: ``scopes: null`` was a 500."""
    target = _token(api, ["projects:read"])
    for field in ("scopes", "name", "description"):
        r = api.patch(api.org(f"/tokens/{target['id']}"), json={field: None})
        assert f.fields(r) == [field]
    cleared = api.patch(api.org(f"/tokens/{target['id']}"), json={"expires_at": None})
    assert cleared.status_code == 200, cleared.text


class TestNoEscalationThroughWebhooks:
    """Same class as item 1: a subscription delivers data, so it needs the right to read it."""

    def test_webhooks_write_alone__cannot_subscribe_to_experiments(self, api: ApiClient) -> None:
        only = _token(api, ["webhooks:write"])
        with _as(api, only["token"]) as c:
            for events, missing in [
                (["*"], ["experiments:read", "flags:read", "results:read"]),
                (["experiment.started"], ["experiments:read"]),
                (["srm.detected", "flag.updated"], ["flags:read", "results:read"]),
            ]:
                r = c.post(api.org("/webhooks"), json={"url": PUBLIC_URL, "event_types": events})
                assert _refused(r, 403, "scope_escalation")["details"]["scopes"] == missing
            ok = c.post(
                api.org("/webhooks"), json={"url": PUBLIC_URL, "event_types": ["webhook.test"]}
            )
            assert ok.status_code == 201, ok.text

    def test_redirecting_or_rekeying_a_subscription__needs_its_rights(self, api: ApiClient) -> None:
        hook = api.post(api.org("/webhooks"), json={"url": PUBLIC_URL, "event_types": ["*"]})
        hook_id = hook.json()["data"]["id"]
        only = _token(api, ["webhooks:write"])
        with _as(api, only["token"]) as c:
            moved = c.patch(api.org(f"/webhooks/{hook_id}"), json={"url": PUBLIC_URL + "/mine"})
            _refused(moved, 403, "scope_escalation")
            _refused(c.post(api.org(f"/webhooks/{hook_id}/rotate-secret")), 403, "scope_escalation")
        assert api.get(api.org(f"/webhooks/{hook_id}")).json()["data"]["url"] == PUBLIC_URL
        able = _token(api, ["webhooks:write", "experiments:read", "flags:read", "results:read"])
        with _as(api, able["token"]) as c:
            moved = c.patch(api.org(f"/webhooks/{hook_id}"), json={"url": PUBLIC_URL + "/b"})
            assert moved.status_code == 200, moved.text


class TestNoSecretsAtRest:
    """Item 3: an answer carrying a secret is never kept in the idempotency records."""

    def _records(self, database: Database, key: str) -> list[IdempotencyRecord]:
        with database.session(write=False) as s:
            stmt = select(IdempotencyRecord).where(IdempotencyRecord.key == key)
            return list(s.scalars(stmt))

    def _check(
        self, api: ApiClient, database: Database, path: str, body: dict[str, Any], field: str
    ) -> None:
        key = f.unique("secret-key")
        first = api.post(path, json=body, headers={"Idempotency-Key": key})
        assert first.status_code in (200, 201), first.text
        data = first.json()["data"]
        secret = data[field]
        records = self._records(database, key)
        assert len(records) == 1
        stored = (records[0].response_body or b"") + repr(records[0].response_headers).encode()
        assert secret.encode() not in stored
        again = api.post(path, json=body, headers={"Idempotency-Key": key})
        error = _refused(again, 409, "idempotency_secret_withheld")
        assert error["details"] == {"resource_id": data["id"]}
        assert secret not in again.text

    def test_token_create(self, api: ApiClient, database: Database) -> None:
        self._check(api, database, api.org("/tokens"), {"name": "i", "scopes": ["*"]}, "token")

    def test_token_rotate(self, api: ApiClient, database: Database) -> None:
        target = _token(api, ["projects:read"])
        path = api.org(f"/tokens/{target['id']}/rotate")
        self._check(api, database, path, {"grace_period_seconds": 0}, "token")

    def test_webhook_create_and_rotate(self, api: ApiClient, database: Database) -> None:
        body = {"url": PUBLIC_URL, "event_types": ["experiment.started"]}
        self._check(api, database, api.org("/webhooks"), body, "secret")
        hook = api.post(api.org("/webhooks"), json=body).json()["data"]
        self._check(api, database, api.org(f"/webhooks/{hook['id']}/rotate-secret"), {}, "secret")

    def test_answers_without_secret__still_replayed(self, api: ApiClient) -> None:
        key = f.unique("plain")
        body = {"key": f.unique("p"), "name": "P"}
        first = api.post(api.org("/projects"), json=body, headers={"Idempotency-Key": key})
        again = api.post(api.org("/projects"), json=body, headers={"Idempotency-Key": key})
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()


class TestKeysAndReferences:
    """Item 5: SDK keys, templates, project deletion, the CLI."""

    def test_sdk_key__no_diagnostics(self, api: ApiClient) -> None:
        project = f.create_project(api)
        sdk = api.post(
            api.org("/tokens"), json={"name": "w", "kind": "sdk", "project_id": project["id"]}
        ).json()["data"]
        with _as(api, sdk["token"]) as c:
            _refused(c.get("/api/v1/diagnostics"), 403, "sdk_key_not_allowed")
        assert api.get("/api/v1/diagnostics").status_code == 200

    def test_template__other_orgs_ids_refused_at_save(
        self, api: ApiClient, live_server: LiveServer
    ) -> None:
        from tests.support.servers import new_org_client

        with new_org_client(live_server) as other:
            theirs = f.create_project(other)
            metric = f.create_metric(other, theirs["id"])
            group = f.create_group(other, theirs["id"])
        project = f.create_project(api)
        base = {"project_id": project["id"], "key": f.unique("t"), "name": "T"}
        for design, path in [
            ({"metrics": {"primary": [metric["id"]]}}, "body.metrics.primary.0"),
            ({"exclusion_group_id": group["id"]}, "body.exclusion_group_id"),
            ({"audience_id": "aud_0000000000000000000000"}, "body.audience_id"),
        ]:
            body = {**base, "body": {"variants": f.variants(), **design}}
            assert f.fields(api.post(api.org("/templates"), json=body)) == [path]
        # the same holds for an edit
        own = f.create_template(api, project["id"])
        patch = {"body": {"variants": f.variants(), "exclusion_group_id": group["id"]}}
        r = api.patch(api.org(f"/templates/{own['id']}"), json=patch)
        assert f.fields(r) == ["body.exclusion_group_id"]
        # ids of its own project are fine
        mine = f.create_metric(api, project["id"])
        body = {**base, "body": {"variants": f.variants(), "metrics": {"primary": [mine["id"]]}}}
        assert api.post(api.org("/templates"), json=body).status_code == 201

    def test_delete_project__revokes_its_sdk_keys_and_deletes_its_webhooks(
        self, api: ApiClient
    ) -> None:
        project = f.create_project(api)
        sdk = api.post(
            api.org("/tokens"), json={"name": "w", "kind": "sdk", "project_id": project["id"]}
        ).json()["data"]
        hook = api.post(
            api.org("/webhooks"),
            json={"url": PUBLIC_URL, "event_types": ["*"], "project_id": project["id"]},
        ).json()["data"]
        with _as(api, sdk["token"]) as c:
            assert c.get("/api/sdk/config").status_code == 200
        assert api.delete(api.org(f"/projects/{project['id']}")).status_code == 204
        assert api.get(api.org(f"/webhooks/{hook['id']}")).status_code == 404
        gone = api.get(api.org("/audit"), params={"resource_id": hook["id"]}).json()["data"]
        assert "webhook.deleted" in [e["action"] for e in gone]
        assert api.get(api.org(f"/tokens/{sdk['id']}")).json()["data"]["status"] == "revoked"
        with _as(api, sdk["token"]) as c:
            assert c.get("/api/sdk/config").status_code == 401
        audit = api.get(api.org("/audit"), params={"resource_id": sdk["id"]}).json()["data"]
        assert "token.revoked" in [e["action"] for e in audit]

    def test_cli__refuses_scopes_the_api_refuses(
        self, api: ApiClient, database_url: str, database: Database, tmp_path: Any
    ) -> None:
        env = {
            **os.environ,
            "AVSB_DATA_DIR": str(tmp_path),
            "AVSB_DATABASE_URL": database_url,
            "AVSB_ADMIN_TOKEN": "",
        }
        run = subprocess.run(
            [sys.executable, "-m", "avsb", "token", "create", "--name", "cli-bad",
             "--scope", "nonsense:read", "--scope", "projects:read", "--org", api.org_id],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert run.returncode == 2, run.stdout + run.stderr
        assert "nonsense:read" in run.stderr  # errors go to standard error
        with database.session(write=False) as s:
            names = s.scalars(select(ApiToken.name).where(ApiToken.org_id == api.org_id))
            assert "cli-bad" not in list(names)


class TestMalformedCursor:
    """Item 9: a cursor that is not ours is 400 ``invalid_cursor`` on every list route."""

    CURSORS = (".%F1%A8%97%97%C2%8F", "%C3%A9.%C3%A9", "e30.", "AAAA.AAAA", "%00.%00")

    def test_every_list_route(self, api: ApiClient) -> None:
        spec = api.get("/openapi.json").json()
        project = f.create_project(api)
        lists = [
            path
            for path, ops in spec["paths"].items()
            if "get" in ops
            and any(p.get("name") == "cursor" for p in ops["get"].get("parameters", []))
        ]
        assert len(lists) > 10
        for template in lists:
            path = template.replace("{org_id}", api.org_id).replace("{project_id}", project["id"])
            path = path.replace("{", "").replace("}", "")  # other ids: any text will do
            for cursor in self.CURSORS:
                r = api.get(f"{path}?cursor={cursor}")
                assert r.status_code in (400, 404), (path, cursor, r.text)
                if r.status_code == 400:
                    assert r.json()["error"]["code"] == "invalid_cursor", (path, r.text)


class TestIdempotencyContract:
    """Item 10: errors are not stored, equal JSON is the same request, one rule for keys."""

    def test_422_then_corrected_body__runs(self, api: ApiClient) -> None:
        key = f.unique("fix")
        bad = api.post(api.org("/projects"), json={"key": "x y"}, headers={"Idempotency-Key": key})
        assert bad.status_code == 422
        good = {"key": f.unique("p"), "name": "P"}
        fixed = api.post(api.org("/projects"), json=good, headers={"Idempotency-Key": key})
        assert fixed.status_code == 201, fixed.text
        assert "Idempotent-Replayed" not in fixed.headers

    def test_409_not_stored_either(self, api: ApiClient) -> None:
        taken = f.unique("p")
        f.create_project(api, key=taken)
        key = f.unique("dup")
        first = api.post(
            api.org("/projects"), json={"key": taken, "name": "A"}, headers={"Idempotency-Key": key}
        )
        assert first.status_code == 409
        second = api.post(
            api.org("/projects"), json={"key": taken, "name": "A"}, headers={"Idempotency-Key": key}
        )
        assert second.status_code == 409
        assert "Idempotent-Replayed" not in second.headers

    def test_same_json_other_spelling__replayed(self, api: ApiClient) -> None:
        key = f.unique("json")
        pk = f.unique("p")
        spelled = [
            f'{{"key": "{pk}", "name": "P", "description": "d"}}',
            f'{{"description":"d","name":"P","key":"{pk}"}}',
            f'{{\n  "name" : "P",\t"key": "{pk}",  "description": "d"\n}}',
        ]
        answers = [
            api.post(
                api.org("/projects"),
                content=body.encode(),
                headers={"Idempotency-Key": key, "Content-Type": "application/json"},
            )
            for body in spelled
        ]
        assert [a.status_code for a in answers] == [201, 201, 201]
        assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
        assert len({a.json()["data"]["id"] for a in answers}) == 1
        other = api.post(
            api.org("/projects"),
            json={"key": pk, "name": "P", "description": "other"},
            headers={"Idempotency-Key": key},
        )
        _refused(other, 409, "idempotency_conflict")

    @pytest.mark.parametrize("key", ["a\tb", "a b", "é", "x" * 256])
    def test_key_characters__one_rule(self, api: ApiClient, key: str) -> None:
        r = api.post(
            api.org("/projects"),
            json={"key": f.unique("p"), "name": "P"},
            headers={b"Idempotency-Key": key.encode("utf-8")},
        )
        _refused(r, 400, "invalid_idempotency_key")

    def test_key_control_characters__refused_at_the_door(self, api: ApiClient) -> None:
        """Other control characters never reach the app (the HTTP parser refuses them)."""
        for char in ("\x01", "\x1f", "\x7f"):
            try:
                r = api.post(
                    api.org("/projects"),
                    json={"key": f.unique("p"), "name": "P"},
                    headers={"Idempotency-Key": f"a{char}b"},
                )
            except httpx.LocalProtocolError:
                continue
            assert r.status_code == 400


class TestMethods:
    """Item 11: HEAD like GET, OPTIONS with Allow, 405 listing every method of the path."""

    def test_head__like_get_without_body(self, api: ApiClient) -> None:
        project = f.create_project(api)
        for path in ["/health", api.org("/projects"), api.org(f"/projects/{project['id']}")]:
            got = api.get(path)
            head = api.head(path)
            assert head.status_code == got.status_code == 200, (path, head.text)
            assert head.content == b""
            assert head.headers["content-length"] == got.headers["content-length"]
            assert head.headers["content-type"] == got.headers["content-type"]
        with httpx.Client(base_url=api.server.url) as anonymous:
            assert anonymous.head(api.org("/projects")).status_code == 401

    def test_options__204_with_allow(self, api: ApiClient) -> None:
        project = f.create_project(api)
        cases = {
            "/health": "GET, HEAD, OPTIONS",
            api.org("/projects"): "GET, HEAD, POST, OPTIONS",
            api.org(f"/projects/{project['id']}"): "GET, HEAD, PATCH, DELETE, OPTIONS",
        }
        for path, allow in cases.items():
            r = api.options(path)
            assert r.status_code == 204, (path, r.text)
            assert r.headers["Allow"] == allow
        assert api.options("/nothing-here").status_code == 404

    def test_405__allow_lists_every_method(self, api: ApiClient) -> None:
        project = f.create_project(api)
        r = api.put(api.org(f"/projects/{project['id']}"), json={})
        error = _refused(r, 405, "method_not_allowed")
        assert r.headers["Allow"] == "GET, HEAD, PATCH, DELETE, OPTIONS"
        assert error["request_id"] == r.headers["X-Request-ID"]
        assert api.post("/health").headers["Allow"] == "GET, HEAD, OPTIONS"

    def test_every_path__allow_matches_openapi(self, api: ApiClient) -> None:
        spec = api.get("/openapi.json").json()
        for template, ops in spec["paths"].items():
            path = template.replace("{org_id}", api.org_id)
            path = path.replace("{", "x").replace("}", "")
            documented = {m.upper() for m in ops} & {"GET", "POST", "PUT", "PATCH", "DELETE"}
            r = api.options(path)
            assert r.status_code == 204, (template, r.text)
            allowed = set(r.headers["Allow"].split(", "))
            assert documented <= allowed, (template, allowed)
            assert allowed - documented <= {"HEAD", "OPTIONS"}, (template, allowed)


class TestDeleteStillReferenced:
    """Item 12: a delete refused for references says what refers, never "same unique fields"."""

    @pytest.mark.parametrize("kind", ["metrics", "experiments", "flags", "templates"])
    def test_project_with_content__409_naming_it(self, api: ApiClient, kind: str) -> None:
        project = f.create_project(api)
        made = {
            "metrics": lambda: f.create_metric(api, project["id"]),
            "experiments": lambda: f.create_experiment(api, project["id"]),
            "flags": lambda: f.create_flag(api, project["id"]),
            "templates": lambda: f.create_template(api, project["id"]),
        }[kind]()
        r = api.delete(api.org(f"/projects/{project['id']}"))
        error = _refused(r, 409, "project_not_empty")
        assert error["details"]["used_by"] == [made["id"]]
        assert made["id"] in error["message"]
        assert "unique" not in error["message"]


def test_foreign_key_violations__named_as_such(api: ApiClient, database: Database) -> None:
    """The fallback under the services' own checks, on the real database: a foreign key that
    still points at a deleted row is ``still_referenced``, one pointing nowhere on insert is
    ``reference_missing``; neither is the "same unique fields" answer of a unique clash."""
    from avsb.server.errors import Conflict
    from avsb.server.kit import resources
    from avsb.server.kit.context import system_context
    from avsb.server.kit.ids import new_id
    from avsb.server.models import Metric, Project

    project = f.create_project(api)
    metric = f.create_metric(api, project["id"])
    ctx = system_context(api.org_id)
    with database.session(write=True) as session:
        row = session.get(Project, project["id"])
        assert row is not None
        with pytest.raises(Conflict) as refused:
            resources.delete(session, ctx, row)
        assert refused.value.code == "still_referenced"
        session.rollback()
    with database.session(write=True) as session:
        orphan = Metric(
            id=new_id("met"),
            org_id=api.org_id,
            project_id="prj_gone",
            key=f.unique("k"),
            name="n",
            type="binary",
            event_name="e",
        )
        with pytest.raises(Conflict) as missing:
            resources.create(session, ctx, orphan)
        assert missing.value.code == "reference_missing"
        session.rollback()
    assert api.get(api.org(f"/metrics/{metric['id']}")).status_code == 200


class TestLoneSurrogates:
    """JSON may spell a lone UTF-16 surrogate (``"\\ud9a7"``); no UTF-8 text can hold it. It is
    refused as malformed JSON (422) before anything is written, where it used to reach the
    database and end in a 500 (schemathesis found it on PATCH /flags/{id})."""

    def test_create_and_patch__422_json_invalid_nothing_written(self, api: ApiClient) -> None:
        pid = f.create_project(api)["id"]
        flag = f.create_flag(api, pid, default_value="kept")
        path = api.org(f"/flags/{flag['id']}")
        created = api.post(api.org("/projects"), headers=JSON,
                           content=b'{"key": "lone", "name": "a\\ud9a7b"}')  # fmt: skip
        lone_low = b'{"description": "x\\udc75", "default_value": "new"}'
        patched = api.patch(path, headers=JSON, content=lone_low)
        in_key = api.patch(path, headers=JSON, content=b'{"default_value": {"\\ud800": 1}}')

        for r in (created, patched, in_key):
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "validation_error"
            assert [d["type"] for d in error["details"]["fields"]] == ["json_invalid"]
        projects = api.get(api.org("/projects"), params={"limit": 100}).json()["data"]
        assert [p["id"] for p in projects] == [pid]  # a new organisation: only its own
        after = api.get(api.org(f"/flags/{flag['id']}")).json()["data"]
        assert after["default_value"] == "kept"

    def test_surrogate_pair_and_escaped_backslash__accepted(self, api: ApiClient) -> None:
        """A pair escapes one character beyond the BMP; ``\\\\ud800`` is a backslash and text."""
        body = b'{"key": "pair", "name": "\\ud83d\\ude00 and \\\\ud800"}'
        r = api.post(api.org("/projects"), headers=JSON, content=body)

        assert r.status_code == 201, r.text
        assert r.json()["data"]["name"] == "\U0001f600 and \\ud800"
