"""A verified ABC signature is remembered (`gate.SdkSecrets.verified`), so the same signed
headers are not checked with md5 again; a revocation or a rotation still refuses them at once,
as without the memory."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.evaluation_api.support import SdkKey, keyed_project, signature
from tests.support.servers import ApiClient, LiveServer, new_org_client


@pytest.fixture(scope="module")
def org(live_server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(live_server) as client:
        yield client


def _headers(key: SdkKey) -> dict[str, str]:
    """Signed once, sent as they are on every call (as a client does within its second)."""
    et = str(int(time.time()))
    return {"X-Ak": key.id, "X-Et": et, "X-Es": signature(key.secret, key.id, et)}


def _ask(org: ApiClient, key: SdkKey, headers: dict[str, str]) -> int:
    body = {"project_id": key.project_id, "unit_id": "u1"}
    r = httpx.post(org.server.url + "/abc/get_experiments", json=body, headers=headers)
    assert r.status_code == 200, r.text
    code: int = r.json()["ret_code"]
    return code


def test_same_signature__accepted_until_revoked(org: ApiClient) -> None:
    key = keyed_project(org)
    headers = _headers(key)
    assert [_ask(org, key, headers) for _ in range(3)] == [100, 100, 100]
    assert org.post(org.org(f"/tokens/{key.id}/revoke")).status_code == 200
    assert _ask(org, key, headers) == 101


def test_same_signature__refused_once_rotated_without_grace(org: ApiClient) -> None:
    key = keyed_project(org)
    headers = _headers(key)
    assert [_ask(org, key, headers) for _ in range(2)] == [100, 100]
    r = org.post(org.org(f"/tokens/{key.id}/rotate"), json={"grace_period_seconds": 0})
    assert r.status_code == 200, r.text
    assert _ask(org, key, headers) == 101
    renewed = SdkKey(key.id, r.json()["data"]["token"], key.project_id)
    assert _ask(org, renewed, _headers(renewed)) == 100


def test_tampered_signature__refused_after_a_valid_one(org: ApiClient) -> None:
    key = keyed_project(org)
    headers = _headers(key)
    assert _ask(org, key, headers) == 100
    forged = {
        **headers,
        "X-Es": headers["X-Es"][:-1] + ("0" if headers["X-Es"][-1] != "0" else "1"),
    }
    assert _ask(org, key, forged) == 101
    later = {**headers, "X-Et": str(int(headers["X-Et"]) + 1)}  # same X-Es, another time
    assert _ask(org, key, later) == 101
