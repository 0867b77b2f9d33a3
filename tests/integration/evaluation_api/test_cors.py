"""CORS of the evaluation routes: preflights, per-key allowed origins, the instance default."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, settle, signed
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

DEFAULT = "https://default.example"
APP = "https://app.example.com"
BULK = "/ofrep/v1/evaluate/flags"
BODY = {"context": {"targetingKey": "u1"}}


@pytest.fixture(scope="module")
def server(servers: ServerFactory) -> LiveServer:
    return servers.start(cors_origins=f"{DEFAULT}, http://localhost:3000")


@pytest.fixture(scope="module")
def cors_org(server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(server) as client:
        yield client


def _key(org: ApiClient, project_id: str, **body: object) -> tuple[SdkKey, dict[str, object]]:
    r = org.post(
        org.org("/tokens"), json={"name": "web", "kind": "sdk", "project_id": project_id, **body}
    )
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    return SdkKey(data["id"], data["token"], project_id), data


@pytest.fixture(scope="module")
def keys(cors_org: ApiClient, server: LiveServer) -> dict[str, object]:
    pid = f.create_project(cors_org)["id"]
    f.create_flag(cors_org, pid, key="shown", type="boolean", default_value=True)
    own, own_data = _key(cors_org, pid, allowed_origins=["HTTPS://App.Example.com:443"])
    default, default_data = _key(cors_org, pid)
    settle(server)
    return {"own": own, "own_data": own_data, "default": default, "default_data": default_data}


def _wait(predicate: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


class TestSdkKeyOrigins:
    def test_create__origins_normalised_and_shown(
        self, keys: dict[str, object], cors_org: ApiClient
    ) -> None:
        assert keys["own_data"]["allowed_origins"] == [APP]  # type: ignore[index]
        assert keys["default_data"]["allowed_origins"] is None  # type: ignore[index]
        own: SdkKey = keys["own"]  # type: ignore[assignment]
        read = cors_org.get(cors_org.org(f"/tokens/{own.id}"))
        assert read.json()["data"]["allowed_origins"] == [APP]

    @pytest.mark.parametrize(
        "origins",
        [
            ["https://a.example/path"],
            ["ftp://a.example"],
            ["*", APP],
            ["https://a.example?x=1"],
            ["not an origin"],
            ["https://user@a.example"],
        ],
        ids=str,
    )
    def test_create__bad_origin__422_at_the_field(
        self, origins: list[str], cors_org: ApiClient, keys: dict[str, object]
    ) -> None:
        own: SdkKey = keys["own"]  # type: ignore[assignment]
        r = cors_org.post(
            cors_org.org("/tokens"),
            json={
                "name": "x",
                "kind": "sdk",
                "project_id": own.project_id,
                "allowed_origins": origins,
            },
        )
        assert r.status_code == 422, r.text
        assert "allowed_origins" in r.text

    def test_create__service_token_with_origins__422(self, cors_org: ApiClient) -> None:
        r = cors_org.post(
            cors_org.org("/tokens"),
            json={"name": "svc", "scopes": ["flags:read"], "allowed_origins": [APP]},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["fields"][0]["path"] == "allowed_origins"


class TestPreflight:
    @pytest.mark.parametrize(
        "path",
        [
            BULK,
            f"{BULK}/shown",
            "/api/sdk/config",
            "/api/sdk/evaluate",
            "/api/sdk/exposures",
            "/abc/get_experiments",
            "/abc/get_feature_flags",
        ],
    )
    def test_preflight__origin_of_a_key__204_with_methods_headers_max_age(
        self, path: str, server: LiveServer, keys: dict[str, object]
    ) -> None:
        with server.client() as c:
            r = c.options(
                path,
                headers={
                    "Origin": APP,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
        assert r.status_code == 204, r.text
        assert r.headers["access-control-allow-origin"] == APP
        assert "POST" in r.headers["access-control-allow-methods"]
        allowed = r.headers["access-control-allow-headers"].lower()
        assert {"authorization", "x-api-key", "content-type", "if-none-match"} <= {
            h.strip() for h in allowed.split(",")
        }
        assert int(r.headers["access-control-max-age"]) > 0
        assert "Origin" in r.headers["vary"]
        assert "access-control-allow-credentials" not in r.headers
        assert r.headers["x-request-id"]  # the front door's envelope

    def test_preflight__default_origin__allowed(self, server: LiveServer) -> None:
        with server.client() as c:
            r = c.options(
                BULK, headers={"Origin": DEFAULT, "Access-Control-Request-Method": "POST"}
            )
        assert r.headers["access-control-allow-origin"] == DEFAULT

    def test_preflight__unknown_origin__no_allow_headers(self, server: LiveServer) -> None:
        with server.client() as c:
            r = c.options(
                BULK,
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            )
        assert r.status_code == 204
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-methods" not in r.headers

    def test_management_routes__stay_same_origin(
        self, server: LiveServer, cors_org: ApiClient
    ) -> None:
        with server.client() as c:
            r = c.options(
                cors_org.org("/projects"),
                headers={"Origin": APP, "Access-Control-Request-Method": "GET"},
            )
            got = c.get(
                cors_org.org("/projects"),
                headers={"Origin": APP, "Authorization": f"Bearer {cors_org.token}"},
            )
        assert not [h for h in r.headers if h.startswith("access-control-")]
        assert got.status_code == 200
        assert "access-control-allow-origin" not in got.headers


class TestRequests:
    def test_own_origin__allowed_with_exposed_etag(
        self, server: LiveServer, keys: dict[str, object]
    ) -> None:
        own: SdkKey = keys["own"]  # type: ignore[assignment]
        with server.client() as c:
            r = c.post(BULK, json=BODY, headers={**bearer(own), "Origin": APP})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == APP
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "retry-after"} <= exposed
        assert r.headers["vary"] == "Origin"
        assert "access-control-allow-credentials" not in r.headers

    def test_key_list_overrides_default(self, server: LiveServer, keys: dict[str, object]) -> None:
        own: SdkKey = keys["own"]  # type: ignore[assignment]
        default: SdkKey = keys["default"]  # type: ignore[assignment]
        with server.client() as c:
            own_at_default = c.post(BULK, json=BODY, headers={**bearer(own), "Origin": DEFAULT})
            default_at_app = c.post(
                BULK, json=BODY, headers={"X-API-Key": default.secret, "Origin": APP}
            )
            default_at_default = c.get(
                "/api/sdk/config", headers={**bearer(default), "Origin": DEFAULT}
            )
        assert "access-control-allow-origin" not in own_at_default.headers
        assert "access-control-allow-origin" not in default_at_app.headers
        assert own_at_default.headers["vary"] == "Origin"
        assert default_at_default.headers["access-control-allow-origin"] == DEFAULT

    def test_abc_signature__key_by_id(self, server: LiveServer, keys: dict[str, object]) -> None:
        own: SdkKey = keys["own"]  # type: ignore[assignment]
        body = {"project_id": own.project_id, "unit_id": "u1", "feature_names": ["shown"]}
        with server.client() as c:
            r = c.post("/abc/get_feature_flags", json=body, headers={**signed(own), "Origin": APP})
        assert r.json()["ret_code"] == 100
        assert r.headers["access-control-allow-origin"] == APP

    def test_unknown_key__error_readable_by_an_allowed_origin(self, server: LiveServer) -> None:
        with server.client() as c:
            r = c.post(
                BULK,
                json=BODY,
                headers={"Authorization": "Bearer avsb_sdk_nope", "Origin": DEFAULT},
            )
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == DEFAULT

    def test_no_origin__no_cors_headers(self, server: LiveServer, keys: dict[str, object]) -> None:
        own: SdkKey = keys["own"]  # type: ignore[assignment]
        with server.client() as c:
            r = c.post(BULK, json=BODY, headers=bearer(own))
        assert not [h for h in r.headers if h.startswith("access-control-")]
        assert "vary" not in r.headers

    def test_patch_origins__wildcard_then_null(
        self, server: LiveServer, cors_org: ApiClient, keys: dict[str, object]
    ) -> None:
        pid = f.create_project(cors_org)["id"]
        key, _ = _key(cors_org, pid, allowed_origins=[APP])
        settle(server)
        other = "https://other.example"

        def allow(origin: str) -> str | None:
            with server.client() as c:
                r = c.post(BULK, json=BODY, headers={**bearer(key), "Origin": origin})
            assert r.status_code == 200
            origin_header: str | None = r.headers.get("access-control-allow-origin")
            return origin_header

        url = cors_org.org(f"/tokens/{key.id}")
        patched = cors_org.patch(url, json={"allowed_origins": ["*"]})
        assert patched.json()["data"]["allowed_origins"] == ["*"]
        _wait(lambda: allow(other) == "*")  # a wildcard never comes with credentials
        cors_org.patch(url, json={"allowed_origins": None})
        _wait(lambda: allow(other) is None)
        assert allow(DEFAULT) == DEFAULT
        with server.client() as c:
            preflight = c.options(
                BULK, headers={"Origin": other, "Access-Control-Request-Method": "POST"}
            )
        assert "access-control-allow-origin" not in preflight.headers


class TestSetting:
    def test_bad_default_origin__refused_at_startup(self, servers: ServerFactory) -> None:
        with pytest.raises(ValueError, match="not an origin"):
            servers.settings(cors_origins="https://ok.example, https://bad.example/path")
        assert servers.settings(cors_origins=" * ").cors_origins == " * "
