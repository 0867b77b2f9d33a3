"""Requests/s of an authenticated, rate-limited read of one project against bare /health,
on the same server in one run (wrk on loopback).

    .venv/bin/python -m bench.bench_api [--seconds 5 --rounds 3] [--pg-url postgresql://...]

The two routes are measured in alternating rounds (health, read, health, read, ...) so that
both see the same background load; the ratio reported is the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import statistics

import httpx

from bench._harness import RELAXED_LIMITS, server, token_and_project, wrk


def measure(database_url: str | None, seconds: int, rounds: int) -> None:
    with server(database_url, **RELAXED_LIMITS) as url:
        token, path = token_and_project(url, ["projects:read"])
        assert httpx.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        wrk(f"{url}/health", seconds=2)  # warm-up
        wrk(path, headers={"Authorization": f"Bearer {token}"}, seconds=2)
        store = "postgresql" if database_url else "sqlite"
        print(f"metadata store: {store}")
        ratios = []
        for number in range(1, rounds + 1):
            health = wrk(f"{url}/health", seconds=seconds)
            read = wrk(path, headers={"Authorization": f"Bearer {token}"}, seconds=seconds)
            ratios.append(read.requests_per_second / health.requests_per_second)
            for name, r in (("GET /health", health), ("GET /api/orgs/{o}/projects/{p}", read)):
                print(
                    f"  round {number}  {name:32} {r.requests_per_second:8.0f} req/s  "
                    f"p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  non-2xx {r.non_2xx}"
                )
            print(f"  round {number}  ratio read / health: {ratios[-1]:.2f}")
    print(f"  median ratio read / health: {statistics.median(ratios):.2f} (target >= 0.50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    measure(None, args.seconds, args.rounds)
    if args.pg_url:
        measure(args.pg_url, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
