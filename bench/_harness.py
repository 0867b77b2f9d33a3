"""Shared benchmark plumbing: start ``avsb serve`` as its own process and load it with wrk."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

ADMIN = "avsb_adm_bench_" + "0" * 32
# The rate limiter stays on (shared database bucket, leased); only its rate is raised so that
# a benchmark's load is not answered with 429s.
RELAXED_LIMITS = {"AVSB_RATE_LIMIT_PER_MINUTE": "100000000", "AVSB_RATE_LIMIT_BURST": "100000000"}


def token_and_project(url: str, scopes: list[str]) -> tuple[str, str]:
    """A token of the default org with ``scopes``, and a new project's path under that org:
    (token, ``{url}/api/orgs/{org}/projects/{id}``)."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    org = httpx.get(f"{url}/api/orgs", headers=admin).json()["data"][0]["id"]
    token = httpx.post(
        f"{url}/api/orgs/{org}/tokens", headers=admin, json={"name": "bench", "scopes": scopes}
    ).json()["data"]["token"]
    project = httpx.post(
        f"{url}/api/orgs/{org}/projects", headers=admin, json={"key": "bench", "name": "B"}
    ).json()["data"]["id"]
    return token, f"{url}/api/orgs/{org}/projects/{project}"


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(database_url: str | None = None, **env: str) -> Iterator[str]:
    """``avsb serve`` in a fresh data dir; yields its base URL."""
    with workers_server(1, database_url, env) as url:
        yield url


@contextlib.contextmanager
def workers_server(workers: int, database_url: str | None, env: dict[str, str]) -> Iterator[str]:
    """``avsb serve --workers N`` in a fresh data dir; yields its base URL."""
    data = tempfile.mkdtemp(prefix="avsb-bench-")
    port = _free_port()
    full = {**os.environ, "AVSB_DATA_DIR": data, "AVSB_ADMIN_TOKEN": ADMIN,
            "AVSB_LOG_LEVEL": "warning", **env}  # fmt: skip
    if database_url:
        full["AVSB_DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "avsb", "serve", "--port", str(port), "--workers", str(workers)],
        env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def bare_starlette(
    workers: int = 1, app: str = "_bare_app:app", *, one_write: bool = False
) -> Iterator[tuple[str, int]]:
    """The baseline: ``bench/_bare_app.py`` (or another app of ``bench/``) under uvicorn as
    ``avsb serve`` runs it; its URL and process id. With `one_write`, under uvicorn with the
    HTTP protocol `avsb serve` gives it (one socket write per answer, avsb.server.transport)
    instead of uvicorn's own."""
    port = _free_port()
    script, option = ["import uvicorn"], ""
    if one_write:
        script.append("from avsb.server.transport import OneWriteHttp")
        option = "http=OneWriteHttp, "
    script.append(
        f"uvicorn.run({app!r}, app_dir={os.path.dirname(__file__)!r}, host='127.0.0.1', "
        f"port={port}, log_level='warning', access_log=False, {option}workers={workers})"
    )
    cmd = [sys.executable, "-c", "\n".join(script)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, *, headers: dict[str, str] | None = None, seconds: int = 10,
        connections: int = 32, script: str | None = None) -> WrkResult:  # fmt: skip
    """Run wrk (one thread: the other core serves) against ``url``."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: a stdev column such as "99.99%" must not pass for the 99% percentile.
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return WrkResult(rps, p50, p99, int(bad.group(1)) if bad else 0, total)


_POST_BODIES_LUA = """\
-- Posts every body of a manifest once, in order; prints "started" at the first request
-- and "finished" at the last answer (wrk's own rate counts its whole -d duration).
requests, n, sent, answered, bad = {}, 0, 0, 0, 0
local expect, threads, verified = nil, {}, false

function setup(thread) table.insert(threads, thread) end

function init(args)
  for path in io.lines(args[1]) do
    local f = assert(io.open(path, "rb"))
    n = n + 1
    requests[n] = wrk.format("POST", nil, nil, f:read("*a"))
    f:close()
  end
  expect = args[2]
end

function delay()
  if sent >= n then return 3600000 end  -- every body is out: park the connection
  return 0
end

function request()
  if not verified then  -- wrk calls request() once after init() to check the script
    verified = true
    return requests[1]
  end
  -- Two connections may pass delay() before either takes a body: the late one reads
  -- /health (its answer is not counted) rather than posting a body a second time.
  if sent >= n then return wrk.format("GET", "/health") end
  sent = sent + 1
  if sent == 1 then io.write("started\\n"); io.flush() end
  return requests[sent]
end

function response(status, headers, body)
  if status == 200 and not string.find(body, '"accepted"', 1, true) then return end  -- /health
  answered = answered + 1
  if status ~= 200 or (expect ~= "" and not string.find(body, expect, 1, true)) then
    bad = bad + 1
  end
  if answered == n then
    io.write("finished\\n"); io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do total_bad = total_bad + t:get("bad") end
  io.write(string.format("unexpected answers: %d\\n", total_bad))
end
"""


@dataclass(frozen=True)
class WrkPostResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    unexpected: int  # non-200 answers, or bodies without ``expect``


def wrk_post_bodies(url: str, bodies: list[bytes], *, headers: dict[str, str],
                    connections: int = 4, expect: str = "") -> WrkPostResult:  # fmt: skip
    """POST each body once with wrk (one thread), in order, ``connections`` at a time; the
    rate is bodies over the time from the first request to the last answer. ``expect``: a
    substring every answer must contain."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="avsb-wrk-") as tmp:
        paths = []
        for i, body in enumerate(bodies):
            path = os.path.join(tmp, f"{i:06d}.json")
            with open(path, "wb") as f:
                f.write(body)
            paths.append(path)
        manifest, script = os.path.join(tmp, "bodies.txt"), os.path.join(tmp, "post.lua")
        with open(manifest, "w") as f:
            f.write("\n".join(paths) + "\n")
        with open(script, "w") as f:
            f.write(_POST_BODIES_LUA)
        cmd = ["wrk", "-t1", f"-c{connections}", "-d3600s", "--latency", "-s", script]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd += [url, "--", manifest, expect]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        started = finished = 0.0
        for line in proc.stdout:
            if line.startswith("started"):
                started = time.perf_counter()
            elif line.startswith("finished"):
                finished = time.perf_counter()
                proc.send_signal(signal.SIGINT)  # wrk then prints its latency figures
                break
        out = proc.communicate(timeout=60)[0]
    if not finished:
        raise RuntimeError(f"wrk stopped before every body was answered: {out}")
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = int(re.search(r"unexpected answers: (\d+)", out).group(1))  # type: ignore[union-attr]
    return WrkPostResult(len(bodies) / (finished - started), p50, p99, total, bad)


def server_pid(url: str) -> int:
    """The pid of the ``avsb serve`` child that ``server`` started for ``url``."""
    port = url.rsplit(":", 1)[1]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == os.getpid() and b"serve" in args and port.encode() in args:
            return int(entry)
    raise LookupError(f"no avsb serve child on port {port}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
