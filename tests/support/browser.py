"""A page on another origin in headless Debian Chromium, for browser-client tests.

- `bundle(entry, out)`: one browser script from an ES module entry, bundled by the pinned
  esbuild from `tests/npm` (imports resolve in `tests/npm/node_modules`).
- `StaticSite(files)`: serves a few files from a second loopback port (another origin than
  the AvsB server's), counting the requests it answered.
- `chromium()`: a headless Chromium driven by selenium (fresh profile, no background
  networking); `console_errors(driver)` lists the page's console errors.
- `ofrep_web_page(...)`: the OFREP web-provider page (`tests/support/web/ofrep_page.js`)
  ready to open: it evaluates the flags it is given with `@openfeature/web-sdk` and
  `@openfeature/ofrep-web-provider`, polls (or, `change_detection="sse"`, follows the
  server's event stream), and publishes what it saw in `window.avsb`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.npm import node_modules

WEB_DIR = Path(__file__).resolve().parent / "web"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def bundle(entry: Path, out: Path) -> Path:
    """Bundle an ES module and its npm imports into one browser script (IIFE) at `out`."""
    modules = node_modules()
    esbuild = modules / ".bin" / "esbuild"
    subprocess.run(
        [str(esbuild), str(entry), "--bundle", "--format=iife", "--platform=browser",
         "--target=es2020", f"--outfile={out}", "--log-level=warning"],
        check=True, timeout=120, env={**os.environ, "NODE_PATH": str(modules)},
    )  # fmt: skip
    return out


class StaticSite:
    """A few files served from a loopback port of their own (a second origin)."""

    def __init__(self, files: Mapping[str, tuple[str, bytes]]) -> None:
        self.files = dict(files)  # path -> (content type, body)
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                found = site.files.get(self.path.split("?")[0])
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StaticSite:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """Headless Debian Chromium with a fresh profile, its console log readable."""
    profile = tempfile.mkdtemp(prefix="avsb-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The page's console messages of level SEVERE (errors, failed loads)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e["message"] for e in entries if e["level"] == "SEVERE"]


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def ofrep_web_page(
    work_dir: Path, *, base_url: str, sdk_key: str, checks: list[dict[str, Any]],
    context: Mapping[str, Any], poll_ms: int = 300, change_detection: str = "polling",
) -> dict[str, tuple[str, bytes]]:  # fmt: skip
    """The files of the OFREP web-provider page (`/` and `/app.js`) for a `StaticSite`.

    `checks`: `{"flag", "type" (boolean|string|number|object), "default"}`; the page puts
    `{ready, results: {flag: details}, statuses: [HTTP status of each bulk call], error}` in
    `window.avsb`, with `urls` (of each bulk call), `changeLog` (`{at: page's Date.now(),
    flagsChanged, values}` per configuration-changed event) and `eventSources` (`{url,
    opened: Date.now() or null, messages: [{at, id, data}], errors}` per EventSource the
    provider opened). `change_detection`: the provider's option ('polling', 'sse', 'none').
    """
    script = bundle(WEB_DIR / "ofrep_page.js", work_dir / "app.js").read_bytes()
    config = {"baseUrl": base_url, "key": sdk_key, "checks": checks, "context": dict(context),
              "pollMs": poll_ms, "changeDetection": change_detection}  # fmt: skip
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        "<title>AvsB OFREP</title></head><body><pre id='out'>loading</pre>"
        f"<script>window.AVSB_CONFIG = {json.dumps(config)};</script>"
        "<script src='/app.js'></script></body></html>"
    )
    return {
        "/": ("text/html; charset=utf-8", html.encode()),
        "/app.js": ("text/javascript; charset=utf-8", script),
    }
