"""The hot paths under uvicorn and under granian (one process each), each as a ratio to the
bare Starlette app served by the same software in the same round.

Both servers run the app `avsb serve --workers N` runs in a worker (`avsb.server.workers:
worker_app`, a factory reading the environment) on one data dir that a first `avsb serve`
filled with `bench_evaluation_api`'s project and SDK key. Targets: `GET /health`, ABC
`get_experiments`, OFREP single and bulk (repeat units). Needs granian installed
(`pip install granian`); AvsB itself does not depend on it.

    .venv/bin/python -m bench.bench_server_software [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from statistics import median

import httpx

from bench._harness import ADMIN, RELAXED_LIMITS, WrkResult, _free_port, wrk
from bench.bench_evaluation_api import Api, _script, _targets, build_project

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def _wait(url: str) -> None:
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"no answer from {url}")


@contextlib.contextmanager
def _process(cmd: list[str], ready: str, env: dict[str, str]) -> Iterator[None]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(ready)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _commands(software: str, bare_port: int, app_port: int) -> tuple[list[str], list[str]]:
    """(bare app, AvsB) command lines under `software`."""
    if software == "uvicorn":
        common = ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
        return (
            [sys.executable, "-m", "uvicorn", "_bare_app:app", "--app-dir", BENCH_DIR,
             "--port", str(bare_port), *common],
            [sys.executable, "-m", "uvicorn", "avsb.server.workers:worker_app", "--factory",
             "--port", str(app_port), *common],
        )  # fmt: skip
    granian = shutil.which("granian") or os.path.join(os.path.dirname(sys.executable), "granian")
    common = ["--interface", "asgi", "--host", "127.0.0.1", "--workers", "1", "--no-ws",
              "--log-level", "warning"]  # fmt: skip
    return (
        [granian, *common, "--port", str(bare_port), "--working-dir", BENCH_DIR, "_bare_app:app"],
        [granian, *common, "--port", str(app_port), "--factory", "avsb.server.workers:worker_app"],
    )


Round = tuple[float, dict[str, WrkResult]]


def measure(seconds: int, rounds: int) -> dict[str, list[Round]]:
    data = tempfile.mkdtemp(prefix="avsb-bench-")
    env = {**os.environ, "AVSB_DATA_DIR": data, "AVSB_ADMIN_TOKEN": ADMIN,
           "AVSB_LOG_LEVEL": "warning", **RELAXED_LIMITS,
           "AVSB_EVALUATION_RATE_LIMIT_PER_MINUTE": "1000000000",
           "AVSB_EVALUATION_RATE_LIMIT_BURST": "100000000",
           "AVSB_ABC_MAX_CLOCK_SKEW_SECONDS": "86400"}  # fmt: skip
    scripts: dict[str, str] = {}
    results: dict[str, list[Round]] = {}
    try:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        serve = [sys.executable, "-m", "avsb", "serve", "--port", str(port)]
        with _process(serve, url + "/health", env):
            api = Api(url)
            project, _ = build_project(api)
            key = api.post("/tokens", {"name": "b", "kind": "sdk", "project_id": project["id"]})
        for name, path, body, extra in _targets(key, project["id"])[:3]:
            scripts[name] = _script(key, "counter % 1000", path, body, extra)
        bare_env = {**env, "PYTHONPATH": os.pathsep.join([BENCH_DIR, env.get("PYTHONPATH", "")])}
        for software in ("uvicorn", "granian"):
            bare_port, app_port = _free_port(), _free_port()
            bare_cmd, app_cmd = _commands(software, bare_port, app_port)
            bare, app = f"http://127.0.0.1:{bare_port}/", f"http://127.0.0.1:{app_port}"
            with _process(bare_cmd, bare, bare_env), _process(app_cmd, app + "/health", env):
                time.sleep(1.5)  # the configs compile in the background
                wrk(bare, seconds=2)
                wrk(app + "/health", seconds=2)
                for script in scripts.values():  # every repeat unit seen before the rounds
                    wrk(app, seconds=2, script=script)
                for _ in range(rounds):
                    load = os.getloadavg()[0]
                    row = {"bare Starlette hello": wrk(bare, seconds=seconds),
                           "GET /health": wrk(app + "/health", seconds=seconds)}  # fmt: skip
                    for name, script in scripts.items():
                        row[name] = wrk(app, seconds=seconds, script=script)
                    results.setdefault(software, []).append((load, row))
    finally:
        for script in scripts.values():
            os.unlink(script)
        shutil.rmtree(data, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("granian") is None and not os.path.exists(
        os.path.join(os.path.dirname(sys.executable), "granian")
    ):
        sys.exit("granian is not installed: pip install granian")
    results = measure(args.seconds, args.rounds)
    print(f"one process per server, loopback, wrk -t1 -c32, {args.rounds} rounds of "
          f"{args.seconds} s per target; repeat units")  # fmt: skip
    for software, rounds in results.items():
        loads = ", ".join(f"{load:.2f}" for load, _ in rounds)
        print(f"{software}: 1-min load average before each round: {loads}")
        for name in rounds[0][1]:
            rps = [row[name].requests_per_second for _, row in rounds]
            base = [row["bare Starlette hello"].requests_per_second for _, row in rounds]
            ratios = [r / b for r, b in zip(rps, base, strict=True)]
            p99 = median(row[name].p99_ms for _, row in rounds)
            bad = sum(row[name].non_2xx for _, row in rounds)
            spread = f"[{min(ratios):.2f}-{max(ratios):.2f}]"
            print(f"  {name:32} {median(rps):7.0f} req/s  ratio {median(ratios):.2f} "
                  f"{spread}  p99 {p99:6.2f} ms  non-2xx {bad}")  # fmt: skip


if __name__ == "__main__":
    main()
