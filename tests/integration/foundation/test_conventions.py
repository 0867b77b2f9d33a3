"""The API conventions of DESIGN.md, checked through real HTTP on a live server."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.servers import ApiClient, LiveServer, ServerFactory


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert response.headers["X-Error-Code"] == code
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


class TestEnvelope:
    def test_single__create__201_with_data(self, api: ApiClient) -> None:
        r = api.post(api.org("/projects"), json={"key": "a", "name": "A"})
        assert r.status_code == 201
        assert set(r.json()) == {"data"}

    def test_list__shape__data_cursor_has_more(self, api: ApiClient) -> None:
        r = api.get(api.org("/projects"))
        assert set(r.json()) == {"data", "next_cursor", "has_more"}
        assert r.json() == {"data": [], "next_cursor": None, "has_more": False}


class TestErrors:
    def test_unknown_route__404_not_found(self, api: ApiClient) -> None:
        _error(api.get("/api/nothing-here"), 404, "not_found")

    def test_wrong_method__405(self, api: ApiClient) -> None:
        _error(api.put(api.org("/projects")), 405, "method_not_allowed")

    def test_validation__422_with_field_paths(self, api: ApiClient) -> None:
        r = api.post(api.org("/projects"), json={"key": "bad key!", "holdout_percent": 500})
        error = _error(r, 422, "validation_error")
        paths = {f["path"] for f in error["details"]["fields"]}  # type: ignore[index]
        assert paths == {"key", "name", "holdout_percent"}

    def test_malformed_json__422_not_500(self, api: ApiClient) -> None:
        r = api.post(
            api.org("/projects"), content=b'{"key": ', headers={"Content-Type": "application/json"}
        )
        _error(r, 422, "validation_error")

    def test_unknown_field__422(self, api: ApiClient) -> None:
        r = api.post(api.org("/projects"), json={"key": "k", "name": "n", "colour": "red"})
        error = _error(r, 422, "validation_error")
        assert error["details"]["fields"][0]["path"] == "colour"  # type: ignore[index]

    def test_unhandled_exception__500_without_trace(self, servers: ServerFactory) -> None:
        live = servers.start()

        def boom() -> None:
            raise RuntimeError("secret internals")

        live.app.add_api_route("/api/test-boom", boom)
        with live.client() as client:
            r = client.get("/api/test-boom")
        error = _error(r, 500, "internal_error")
        assert "secret internals" not in r.text
        assert "Traceback" not in r.text
        assert error["details"] == {}


class TestRequestHeaders:
    def test_request_id__sane_one_echoed(self, api: ApiClient) -> None:
        r = api.get("/health", headers={"X-Request-ID": "client-123.abc"})
        assert r.headers["X-Request-ID"] == "client-123.abc"

    def test_request_id__insane_one_replaced(self, api: ApiClient) -> None:
        r = api.get("/health", headers={"X-Request-ID": "<script>" + "x" * 300})
        assert re.fullmatch(r"req_[0-9a-f]{24}", r.headers["X-Request-ID"])

    def test_every_response__timing_version_security(self, api: ApiClient) -> None:
        for r in (api.get("/health"), api.get("/nope"), api.get(api.org("/projects"))):
            assert float(r.headers["X-Process-Time-Ms"]) >= 0
            assert r.headers["AvsB-API-Version"] == "2026-11-22"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]

    def test_api_version__pinned_known__echoed(self, api: ApiClient) -> None:
        r = api.get(api.org("/projects"), headers={"AvsB-API-Version": "2026-11-22"})
        assert r.status_code == 200
        assert r.headers["AvsB-API-Version"] == "2026-11-22"

    def test_api_version__unknown__400(self, api: ApiClient) -> None:
        r = api.get(api.org("/projects"), headers={"AvsB-API-Version": "2020-01-01"})
        _error(r, 400, "unsupported_api_version")


@pytest.fixture(scope="module")
def small(servers: ServerFactory) -> LiveServer:
    return servers.start(max_body_bytes=2048)


class TestBodyLimit:
    def test_declared_length_over_limit__413(self, small: LiveServer) -> None:
        with small.admin() as client:
            r = client.post(
                f"/api/orgs/{small.default_org}/projects",
                json={"key": "k", "name": "n", "description": "x" * 5000},
            )
        _error(r, 413, "payload_too_large")

    def test_chunked_body_over_limit__413(self, small: LiveServer) -> None:
        def chunks() -> object:
            yield b'{"key": "k", "name": "n", "description": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        with small.admin() as client:
            r = client.post(
                f"/api/orgs/{small.default_org}/projects",
                content=chunks(),  # type: ignore[arg-type]
                headers={"Content-Type": "application/json"},
            )
        _error(r, 413, "payload_too_large")


class TestPagination:
    def _make(self, api: ApiClient, n: int) -> list[str]:
        ids = []
        for i in range(n):
            r = api.post(api.org("/projects"), json={"key": f"p{i:02d}", "name": f"P{i}"})
            ids.append(r.json()["data"]["id"])
        return ids

    def test_walk__every_item_once_in_order(self, api: ApiClient) -> None:
        ids = self._make(api, 7)
        seen: list[str] = []
        url: str | None = api.org("/projects?limit=3")
        pages = 0
        while url:
            r = api.get(url)
            body = r.json()
            seen += [p["id"] for p in body["data"]]
            pages += 1
            if body["has_more"]:
                link = r.headers["Link"]
                assert link.endswith('rel="next"')
                assert body["next_cursor"] in link
                url = link[1 : link.index(">")]
            else:
                assert "Link" not in r.headers
                assert body["next_cursor"] is None
                url = None
        assert seen == ids
        assert pages == 3

    def test_tampered_cursor__400_invalid_cursor(self, api: ApiClient) -> None:
        self._make(api, 3)
        cursor = api.get(api.org("/projects?limit=1")).json()["next_cursor"]
        body, mac = cursor.split(".")
        forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
        _error(api.get(api.org(f"/projects?cursor={forged}")), 400, "invalid_cursor")
        _error(api.get(api.org("/projects?cursor=garbage")), 400, "invalid_cursor")

    def test_cursor_of_other_filter__400(self, api: ApiClient) -> None:
        self._make(api, 3)
        cursor = api.get(api.org("/projects?limit=1")).json()["next_cursor"]
        r = api.get(api.org(f"/projects?limit=1&key_prefix=p&cursor={cursor}"))
        _error(r, 400, "invalid_cursor")

    @pytest.mark.parametrize("limit", [0, 1001, -1])
    def test_limit_out_of_range__422(self, api: ApiClient, limit: int) -> None:
        _error(api.get(api.org(f"/projects?limit={limit}")), 422, "validation_error")


class TestETags:
    def test_get__weak_etag_changes_on_write(self, api: ApiClient) -> None:
        pid = api.post(api.org("/projects"), json={"key": "e", "name": "E"}).json()["data"]["id"]
        first = api.get(api.org(f"/projects/{pid}")).headers["ETag"]
        assert re.fullmatch(r'W/"[0-9a-f]{16}"', first)
        api.patch(api.org(f"/projects/{pid}"), json={"name": "E2"})
        assert api.get(api.org(f"/projects/{pid}")).headers["ETag"] != first

    def test_if_none_match__304(self, api: ApiClient) -> None:
        pid = api.post(api.org("/projects"), json={"key": "e", "name": "E"}).json()["data"]["id"]
        etag = api.get(api.org(f"/projects/{pid}")).headers["ETag"]
        r = api.get(api.org(f"/projects/{pid}"), headers={"If-None-Match": etag})
        assert r.status_code == 304
        assert r.content == b""

    def test_if_match_stale__412(self, api: ApiClient) -> None:
        pid = api.post(api.org("/projects"), json={"key": "e", "name": "E"}).json()["data"]["id"]
        etag = api.get(api.org(f"/projects/{pid}")).headers["ETag"]
        ok = api.patch(api.org(f"/projects/{pid}"), json={"name": "x"}, headers={"If-Match": etag})
        assert ok.status_code == 200
        stale = api.patch(
            api.org(f"/projects/{pid}"), json={"name": "y"}, headers={"If-Match": etag}
        )
        _error(stale, 412, "precondition_failed")
        assert api.get(api.org(f"/projects/{pid}")).json()["data"]["name"] == "x"


class TestIdempotency:
    def test_same_key_same_body__replayed(self, api: ApiClient) -> None:
        headers = {"Idempotency-Key": "k-1"}
        body = {"key": "idem", "name": "Idem"}
        first = api.post(api.org("/projects"), json=body, headers=headers)
        second = api.post(api.org("/projects"), json=body, headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert second.json() == first.json()
        assert len(api.get(api.org("/projects")).json()["data"]) == 1

    def test_same_key_other_body__409_conflict(self, api: ApiClient) -> None:
        headers = {"Idempotency-Key": "k-2"}
        api.post(api.org("/projects"), json={"key": "a", "name": "A"}, headers=headers)
        r = api.post(api.org("/projects"), json={"key": "b", "name": "B"}, headers=headers)
        _error(r, 409, "idempotency_conflict")

    def test_same_key_other_token__independent(self, api: ApiClient) -> None:
        other = api.post(api.org("/tokens"), json={"name": "2", "scopes": ["*"]}).json()["data"]
        headers = {"Idempotency-Key": "shared"}
        r1 = api.post(api.org("/projects"), json={"key": "a", "name": "A"}, headers=headers)
        r2 = api.post(
            api.org("/projects"),
            json={"key": "b", "name": "B"},
            headers={**headers, "Authorization": f"Bearer {other['token']}"},
        )
        assert r1.status_code == r2.status_code == 201

    def test_error_answer__not_stored(self, api: ApiClient) -> None:
        """An error changed nothing: the same key runs the request again (test_hardening)."""
        api.post(api.org("/projects"), json={"key": "dup", "name": "A"})
        headers = {"Idempotency-Key": "k-3"}
        first = api.post(api.org("/projects"), json={"key": "dup", "name": "A"}, headers=headers)
        assert first.status_code == 409
        second = api.post(api.org("/projects"), json={"key": "dup2", "name": "A"}, headers=headers)
        assert second.status_code == 201
        assert "Idempotent-Replayed" not in second.headers

    def test_key_too_long__400(self, api: ApiClient) -> None:
        r = api.post(
            api.org("/projects"),
            json={"key": "a", "name": "A"},
            headers={"Idempotency-Key": "x" * 256},
        )
        _error(r, 400, "invalid_idempotency_key")


class TestUnstorableValues:
    def test_nul_in_body__422_on_every_database(self, api: ApiClient) -> None:
        r = api.post(api.org("/projects"), json={"key": "k", "name": "a\u0000b"})
        error = _error(r, 422, "validation_error")
        assert error["details"]["fields"][0]["path"] == "name"  # type: ignore[index]

    def test_nul_in_query__4xx_not_500(self, api: ApiClient) -> None:
        r = api.get(api.org("/projects?key_prefix=%00"))
        assert r.status_code in (200, 400), r.text
