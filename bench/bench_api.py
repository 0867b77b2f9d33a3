"""Requests/s of an authenticated, rate-limited read of one project against bare /health,
on the same server in one run (wrk on loopback).

    .venv/bin/python bench/bench_api.py [--seconds 10] [--pg-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse

import httpx

from bench._harness import ADMIN, server, wrk


def measure(database_url: str | None, seconds: int) -> None:
    # The limiter stays on (database storage, one UPDATE per request); only its rate is raised
    # so that the load is not answered with 429s.
    env = {"AVSB_RATE_LIMIT_PER_MINUTE": "100000000", "AVSB_RATE_LIMIT_BURST": "100000000"}
    with server(database_url, **env) as url:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        org = httpx.get(f"{url}/api/orgs", headers=auth).json()["data"][0]["id"]
        token = httpx.post(
            f"{url}/api/orgs/{org}/tokens", headers=auth,
            json={"name": "bench", "scopes": ["projects:read"]},
        ).json()["data"]["token"]  # fmt: skip
        project = httpx.post(
            f"{url}/api/orgs/{org}/projects", headers=auth, json={"key": "bench", "name": "B"}
        ).json()["data"]["id"]
        path = f"{url}/api/orgs/{org}/projects/{project}"
        assert httpx.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        wrk(f"{url}/health", seconds=2)  # warm-up
        health = wrk(f"{url}/health", seconds=seconds)
        read = wrk(path, headers={"Authorization": f"Bearer {token}"}, seconds=seconds)
    store = "postgresql" if database_url else "sqlite"
    print(f"metadata store: {store}")
    for name, r in (("GET /health", health), ("GET /api/orgs/{o}/projects/{p}", read)):
        print(
            f"  {name:32} {r.requests_per_second:8.0f} req/s  p50 {r.p50_ms:.2f} ms  "
            f"p99 {r.p99_ms:.2f} ms  non-2xx {r.non_2xx}"
        )
    ratio = read.requests_per_second / health.requests_per_second
    print(f"  ratio read / health: {ratio:.2f} (target >= 0.50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    measure(None, args.seconds)
    if args.pg_url:
        measure(args.pg_url, args.seconds)


if __name__ == "__main__":
    main()
