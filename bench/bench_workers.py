"""Evaluation throughput at 1 and at 2 worker processes (`avsb serve --workers N`), each as a
ratio to a bare Starlette hello app under one uvicorn process, measured in the same run.

Both servers use the defaults (SQLite metadata, embedded DuckDB events: with two workers
the exposures of never-seen units go through the event store's owner process). The project
and the request scripts are those of `bench_evaluation_api`. Each round measures the bare
app at 1 and at 2 processes, then every target on the 1-worker and on the 2-worker server;
a ratio in a round is a target's requests/s over that round's 1-process bare app. wrk runs
one thread, so on a 2-core box it takes part of the second core: the scaling the figures
show is a floor. Printed: median [range] over the rounds, median p99, load averages.

    .venv/bin/python -m bench.bench_workers [--seconds 5] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from statistics import median

from bench._harness import bare_starlette, workers_server, wrk
from bench.bench_evaluation_api import UNITS, Api, _check, _script, _targets, build_project

ENV = {
    "AVSB_RATE_LIMIT_PER_MINUTE": "100000000",
    "AVSB_RATE_LIMIT_BURST": "100000000",
    "AVSB_EVALUATION_RATE_LIMIT_PER_MINUTE": "1000000000",
    "AVSB_EVALUATION_RATE_LIMIT_BURST": "100000000",
    "AVSB_ABC_MAX_CLOCK_SKEW_SECONDS": "86400",  # the scripts sign once, with a fixed X-Et
}
TARGETS = ("POST /abc/get_experiments", "OFREP single", "OFREP bulk")


@dataclass
class Series:
    ratios: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    non_2xx: int = 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(seconds: int, connections: int, rounds: int) -> None:
    series: dict[str, Series] = {}
    loads: list[str] = []

    def add(name: str, rps: float, p99: float, bad: int, base: float) -> None:
        s = series.setdefault(name, Series())
        s.ratios.append(rps / base)
        s.rps.append(rps)
        s.p99.append(p99)
        s.non_2xx += bad

    with (
        bare_starlette() as (bare, _),
        bare_starlette(workers=2) as (bare2, _),
        workers_server(1, None, ENV) as one,
        workers_server(2, None, ENV) as two,
    ):
        scripts: dict[str, dict[str, str]] = {}
        for label, url in (("1 worker", one), ("2 workers", two)):
            api = Api(url)
            project, flag_keys = build_project(api)
            key = api.post("/tokens", {"name": "b", "kind": "sdk", "project_id": project["id"]})
            time.sleep(1.0)  # the config is compiled in the background
            _check(url, key, project["id"], flag_keys)
            scripts[label] = {
                name: _script(key, f"counter % {UNITS}", path, body, extra)
                for name, path, body, extra in _targets(key, project["id"])
                if name in TARGETS
            }
            scripts[label]["new"] = next(
                _script(key, "1000000 * {round} + counter", path, body, extra)
                for name, path, body, extra in _targets(key, project["id"])
                if name == TARGETS[0]
            )
            for name in TARGETS:  # warm: every repeat unit seen before the rounds
                wrk(url, seconds=2, connections=connections, script=scripts[label][name])
        wrk(bare, seconds=2, connections=connections)
        wrk(bare2, seconds=2, connections=connections)
        for number in range(rounds):
            loads.append(_load())
            base = wrk(bare, seconds=seconds, connections=connections)
            add("bare Starlette, 1 process", base.requests_per_second, base.p99_ms,
                base.non_2xx, base.requests_per_second)  # fmt: skip
            b2 = wrk(bare2, seconds=seconds, connections=connections)
            add("bare Starlette, 2 processes", b2.requests_per_second, b2.p99_ms, b2.non_2xx,
                base.requests_per_second)  # fmt: skip
            for label, url in (("1 worker", one), ("2 workers", two)):
                r = wrk(f"{url}/health", seconds=seconds, connections=connections)
                add(f"{label}: GET /health", r.requests_per_second, r.p99_ms, r.non_2xx,
                    base.requests_per_second)  # fmt: skip
                for name in TARGETS:
                    r = wrk(url, seconds=seconds, connections=connections,
                            script=scripts[label][name])  # fmt: skip
                    add(f"{label}: {name} (repeat)", r.requests_per_second, r.p99_ms,
                        r.non_2xx, base.requests_per_second)  # fmt: skip
                fresh = scripts[label]["new"]
                with open(fresh) as f:
                    text = f.read()
                with open(fresh, "w") as f:  # never-seen units: a new offset every round
                    f.write(text.replace("{round}", str(number + 1)))
                r = wrk(url, seconds=seconds, connections=connections, script=fresh)
                with open(fresh, "w") as f:
                    f.write(text)
                add(f"{label}: {TARGETS[0]} (new)", r.requests_per_second, r.p99_ms,
                    r.non_2xx, base.requests_per_second)  # fmt: skip
        for by_name in scripts.values():
            for path in by_name.values():
                os.unlink(path)
    print(f"avsb serve --workers 1 and --workers 2 (SQLite metadata, DuckDB events) beside a "
          f"bare Starlette app, uvicorn, loopback, wrk -t1 -c{connections}, {rounds} rounds "
          f"of {seconds} s per target; {os.cpu_count()} cores")  # fmt: skip
    print(f"load average (1, 5, 15 min) before each round: {' | '.join(loads)}")
    print("  req/s (median) [range]; ratio to the 1-process bare app of the same round; p99")
    for name, s in series.items():
        print(f"  {name:48} {median(s.rps):7.0f} req/s [{min(s.rps):.0f}-{max(s.rps):.0f}]  "
              f"ratio {median(s.ratios):.2f} [{min(s.ratios):.2f}-{max(s.ratios):.2f}]  "
              f"p99 {median(s.p99):6.2f} ms  non-2xx {s.non_2xx}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    measure(args.seconds, args.connections, args.rounds)


if __name__ == "__main__":
    main()
