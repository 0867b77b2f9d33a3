"""Sign-in cost with the default argon2id parameters, and a session-authenticated read
against the same read with a service token, on one server in one run (wrk on loopback).

    .venv/bin/python -m bench.bench_auth [--seconds 5 --rounds 3 --logins 10]

Rounds alternate (token read, session read, sign-ins) so that all see the same background
load; each figure is reported as the median and range of the rounds, with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import httpx

from avsb.server.auth.passwords import Passwords
from avsb.server.config import Settings
from bench._harness import RELAXED_LIMITS, server, token_and_project, wrk

OWNER, PASSWORD = "bench-owner@example.test", "bench-owner-password"


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (range {min(values):.2f}-{max(values):.2f})"


def _sign_ins(url: str, count: int) -> float:
    """Median seconds of one sign-in over HTTP (argon2id verify + new session row)."""
    times = []
    with httpx.Client(base_url=url) as client:
        for _ in range(count):
            client.cookies.clear()
            start = time.perf_counter()
            r = client.post("/auth/login", json={"email": OWNER, "password": PASSWORD})
            times.append(time.perf_counter() - start)
            assert r.status_code == 200, r.text
    return statistics.median(times)


def measure(seconds: int, rounds: int, logins: int) -> None:
    settings = Settings()
    print(
        f"argon2id: time_cost {settings.argon2_time_cost}, memory {settings.argon2_memory_kib} "
        f"KiB, parallelism {settings.argon2_parallelism}; load average {os.getloadavg()[0]:.2f}"
    )
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )
    stored = passwords.hash(PASSWORD)
    env = {**RELAXED_LIMITS, "AVSB_OWNER_EMAIL": OWNER, "AVSB_OWNER_PASSWORD": PASSWORD,
           "AVSB_LOGIN_FAILURES_PER_ACCOUNT_PER_MINUTE": "1000000"}  # fmt: skip
    with server(None, **env) as url:
        token, path = token_and_project(url, ["projects:read"])
        r = httpx.post(f"{url}/auth/login", json={"email": OWNER, "password": PASSWORD})
        cookie = {"Cookie": f"avsb_session={r.cookies['avsb_session']}"}
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(path, headers=cookie).status_code == 200
        wrk(path, headers=bearer, seconds=2)  # warm-up
        wrk(path, headers=cookie, seconds=2)
        ratios, verify_ms, login_ms = [], [], []
        for number in range(1, rounds + 1):
            by_token = wrk(path, headers=bearer, seconds=seconds)
            by_session = wrk(path, headers=cookie, seconds=seconds)
            start = time.perf_counter()
            for _ in range(logins):
                passwords.verify(stored, PASSWORD)
            verify_ms.append((time.perf_counter() - start) / logins * 1000)
            login_ms.append(_sign_ins(url, logins) * 1000)
            ratios.append(by_session.requests_per_second / by_token.requests_per_second)
            for name, res in (("token read", by_token), ("session read", by_session)):
                print(
                    f"  round {number}  {name:13} {res.requests_per_second:8.0f} req/s  "
                    f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms  non-2xx {res.non_2xx}"
                )
            print(
                f"  round {number}  ratio session / token {ratios[-1]:.2f}  argon2 verify "
                f"{verify_ms[-1]:.1f} ms  sign-in over HTTP {login_ms[-1]:.1f} ms  "
                f"load {os.getloadavg()[0]:.2f}"
            )
    print(f"argon2id verify, ms: {_spread(verify_ms)}")
    print(f"sign-in over HTTP, ms: {_spread(login_ms)}")
    print(f"session read / token read: {_spread(ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--logins", type=int, default=10)
    args = parser.parse_args()
    measure(args.seconds, args.rounds, args.logins)


if __name__ == "__main__":
    main()
