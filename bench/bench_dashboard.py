"""Dashboard pages against the JSON API calls they stand beside, in the same run.

    .venv/bin/python -m bench.bench_dashboard [--experiments 1000] [--units 3000] [--days 60]
        [--requests 10] [--rounds 3]

One ``avsb serve`` process (SQLite metadata, DuckDB events, the results refresh job off), its
owner signed in through ``POST /auth/login`` (the pages read the session cookie; the API calls
use a service token):

1. the experiments list page (``/orgs/{org}/experiments``, one page of 50) of a project with
   ``--experiments`` experiments, beside ``GET /api/orgs/{org}/experiments?project_id=...``
   (one page of 50), when the dashboard has that page;
2. the results page of an experiment with 5 metrics x 3 variants and ``--days`` days of
   exposures (``--units`` units per variant), beside ``GET .../results`` (which computes the
   results) and beside ``GET .../results/history?limit=1`` (which reads the latest stored
   snapshot, as the page does). The page reads the snapshot its refresh button stored (results
   and lift-over-time series), as the refresh job stores them.

Each of ``--rounds`` rounds times ``--requests`` sequential requests of each (median, wall
clock on loopback) and prints the ratio page / API with the load average; the summary is the
median and range over the rounds. The target: a page costs at most 2x its API call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench._harness import ADMIN, RELAXED_LIMITS, server

OWNER, PASSWORD = "bench-owner@example.test", "bench-owner-password"
VARIANTS = ("control", "treatment_a", "treatment_b")
METRICS = ("purchase", "signup", "click", "revenue", "error")
BATCH = 5_000


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text[:500])
    return (
        r.json()["data"]
        if r.headers.get("content-type", "").startswith("application/json")
        else None
    )


def _setup(
    url: str, experiments: int, units: int, days: int
) -> tuple[httpx.Client, dict[str, str], httpx.Client]:
    """Data through the API; (service-token client, paths, signed-in browser client)."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=300)
    org = _ok(admin.get("/api/orgs"))[0]["id"]
    api = f"/api/orgs/{org}"
    list_project = _ok(admin.post(f"{api}/projects", json={"key": "list", "name": "List"}), 201)[
        "id"
    ]
    variants = [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}]
    body: dict[str, Any]
    for i in range(experiments):
        body = {"project_id": list_project, "key": f"e{i:04d}", "name": f"Experiment {i}",
                "variants": variants}  # fmt: skip
        _ok(admin.post(f"{api}/experiments", json=body), 201)
    project = _ok(admin.post(f"{api}/projects", json={"key": "res", "name": "Results"}), 201)["id"]
    metric_ids = []
    for name in METRICS:
        body = {"project_id": project, "key": name, "name": name.title(), "event_name": name,
                "type": "binary"}  # fmt: skip
        if name == "revenue":
            body["type"] = "sum"
        if name == "error":
            body |= {"type": "count", "lower_is_better": True}
        metric_ids.append(_ok(admin.post(f"{api}/metrics", json=body), 201)["id"])
    three = [{"key": v, "weight": 100 / 3} for v in VARIANTS]
    experiment = _ok(admin.post(f"{api}/experiments", json={
        "project_id": project, "key": "big", "name": "Big", "variants": three,
        "metrics": {"primary": metric_ids[:1], "secondary": metric_ids[1:4],
                    "guardrail": metric_ids[4:]}}), 201)["id"]  # fmt: skip
    _ok(admin.post(f"{api}/experiments/{experiment}/start", json={}))
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=days
    )
    events: list[dict[str, Any]] = []

    def flush() -> None:
        if events:
            _ok(admin.post(f"{api}/projects/{project}/events", json={"events": events}))
            events.clear()

    for arm, variant in enumerate(VARIANTS):
        for i in range(units):
            unit = f"{variant}-{i}"
            at = start + timedelta(days=i % days, minutes=i % 1440)
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            events.append({"type": "exposure", "experiment": "big", "variant": variant,
                           "unit_id": unit, "timestamp": stamp})  # fmt: skip
            for m, name in enumerate(METRICS):
                if (i + m + arm) % (3 + m) == 0:
                    later = (at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    event: dict[str, Any] = {
                        "type": "metric",
                        "event_name": name,
                        "unit_id": unit,
                        "timestamp": later,
                    }
                    if name == "revenue":
                        event["value"] = float(10 + (i % 7) + arm)
                    events.append(event)
            if len(events) >= BATCH:
                flush()
    flush()
    login = httpx.post(f"{url}/auth/login", json={"email": OWNER, "password": PASSWORD})
    cookies = {name: login.cookies[name] for name in ("avsb_session", "avsb_csrf")}
    browser = httpx.Client(base_url=url, cookies=cookies, timeout=300, follow_redirects=False)
    # The stored snapshot (with its series), as the refresh job or the page's button makes it.
    refresh = f"/orgs/{org}/experiments/{experiment}/results/refresh"
    r = browser.post(refresh, data={"csrf_token": cookies["avsb_csrf"], "segment": ""})
    assert r.status_code == 303, (r.status_code, r.text[:500])
    paths = {
        "list_page": f"/orgs/{org}/experiments?project_id={list_project}",
        "list_api": f"{api}/experiments?project_id={list_project}&limit=50",
        "results_page": f"/orgs/{org}/experiments/{experiment}/results",
        "results_api": f"{api}/experiments/{experiment}/results",
        "snapshot_api": f"{api}/experiments/{experiment}/results/history?limit=1",
    }
    return admin, paths, browser


def _median_ms(client: httpx.Client, path: str, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return statistics.median(times)


def measure(experiments: int, units: int, days: int, requests: int, rounds: int) -> None:
    env = {**RELAXED_LIMITS, "AVSB_OWNER_EMAIL": OWNER, "AVSB_OWNER_PASSWORD": PASSWORD,
           "AVSB_RESULTS_REFRESH_MINUTES": "0", "AVSB_ARGON2_TIME_COST": "1",
           "AVSB_ARGON2_MEMORY_KIB": "8192"}  # fmt: skip
    with server(**env) as url:
        t0 = time.perf_counter()
        admin, paths, browser = _setup(url, experiments, units, days)
        print(f"setup: {time.perf_counter() - t0:.0f} s")
        has_list = browser.get(paths["list_page"]).status_code == 200
        pairs = [
            ("results (API computes)", "results_page", "results_api"),
            ("results (API reads the snapshot)", "results_page", "snapshot_api"),
        ]
        if has_list:
            pairs.insert(0, ("experiments list", "list_page", "list_api"))
        else:
            print("the dashboard has no experiments list page here: that pair is skipped")
        ratios: dict[str, list[float]] = {name: [] for name, _, _ in pairs}
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in pairs}
        for round_no in range(1, rounds + 1):
            load = os.getloadavg()[0]
            for name, page_key, api_key in pairs:
                page_ms = _median_ms(browser, paths[page_key], requests)
                api_ms = _median_ms(admin, paths[api_key], requests)
                ratios[name].append(page_ms / api_ms)
                figures[name].append((page_ms, api_ms))
                print(f"round {round_no} (load {load:.1f}) {name}: page {page_ms:.0f} ms, "
                      f"API {api_ms:.0f} ms, ratio {page_ms / api_ms:.2f}")  # fmt: skip
        print("\nsummary: median (range) over rounds")
        for name, _, _ in pairs:
            page = [p for p, _ in figures[name]]
            api = [a for _, a in figures[name]]
            r = ratios[name]
            print(f"{name}: page {statistics.median(page):.0f} ms"
                  f" ({min(page):.0f}-{max(page):.0f}), API {statistics.median(api):.0f} ms"
                  f" ({min(api):.0f}-{max(api):.0f}),"
                  f" ratio {statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--units", type=int, default=3000, help="units per variant")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    measure(args.experiments, args.units, args.days, args.requests, args.rounds)


if __name__ == "__main__":
    main()
