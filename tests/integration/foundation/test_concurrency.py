"""Races that must come out right: one key, one project; one If-Match, one winner; one bucket
shared by two server processes."""

from __future__ import annotations

import concurrent.futures as cf
import time

import httpx

from tests.support.servers import ApiClient, ServerFactory, new_org_client


def test_idempotency__50_parallel_posts_one_key__exactly_one_project(api: ApiClient) -> None:
    headers = {"Authorization": f"Bearer {api.token}", "Idempotency-Key": "race-1"}
    body = {"key": "raced", "name": "Raced"}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.server.url, timeout=60) as c:
            return c.post(api.org("/projects"), json=body, headers=headers)

    with cf.ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, range(50)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    created_ids = {r.json()["data"]["id"] for r in responses if r.status_code == 201}
    assert len(created_ids) == 1  # every 201 is the same project (replays included)
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_in_progress"
    assert len(api.get(api.org("/projects")).json()["data"]) == 1
    events = api.get(api.org("/audit?action=project.created")).json()["data"]
    assert len(events) == 1


def test_if_match__two_racing_patches__one_200_one_412(api: ApiClient) -> None:
    pid = api.post(api.org("/projects"), json={"key": "r", "name": "R"}).json()["data"]["id"]
    for attempt in range(5):
        etag = api.get(api.org(f"/projects/{pid}")).headers["ETag"]

        def patch(name: str, etag: str = etag) -> int:
            with httpx.Client(base_url=api.server.url, timeout=60) as c:
                return c.patch(
                    api.org(f"/projects/{pid}"),
                    json={"name": name},
                    headers={"Authorization": f"Bearer {api.token}", "If-Match": etag},
                ).status_code

        with cf.ThreadPoolExecutor(max_workers=2) as pool:
            codes = sorted(pool.map(patch, [f"a{attempt}", f"b{attempt}"]))
        assert codes == [200, 412]


def test_rate_limit__shared_by_two_processes_within_10_percent(servers: ServerFactory) -> None:
    per_minute, burst = 600.0, 50
    env = {"AVSB_RATE_LIMIT_PER_MINUTE": str(per_minute), "AVSB_RATE_LIMIT_BURST": str(burst)}
    with servers.process(**env) as one, servers.process(**env) as two, new_org_client(one) as api:
        headers = {"Authorization": f"Bearer {api.token}"}
        path = api.org("/projects")
        clients = [httpx.Client(base_url=s.url, headers=headers, timeout=60) for s in (one, two)]

        def hit(i: int) -> int:
            return clients[i % 2].get(path).status_code

        started = time.monotonic()
        with cf.ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(hit, range(1000)))
        elapsed = time.monotonic() - started
        for c in clients:
            c.close()
    allowed = codes.count(200)
    assert set(codes) <= {200, 429}
    expected = burst + per_minute / 60.0 * elapsed
    assert abs(allowed - expected) <= 0.1 * expected, (allowed, expected, elapsed)
