"""A real OpenID Connect provider for tests: ``tests/support/oidc_provider.mjs`` (the
``oidc-provider`` npm package) under Node on a loopback port, and a browser-like walk through
its sign-in pages with httpx."""

from __future__ import annotations

import contextlib
import html
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support import npm
from tests.support.servers import free_port, stop_process

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


@dataclass
class OidcProvider:
    issuer: str
    port: int
    client_id: str
    client_secret: str
    redirect_uri: str
    log: list[str] = field(default_factory=list)


@contextlib.contextmanager
def oidc_provider(redirect_uri: str, port: int | None = None) -> Iterator[OidcProvider]:
    """The provider on ``port`` (default: a free one) with one client whose only redirect URI
    is ``redirect_uri``; ready (its discovery document served) when this yields."""
    port = port or free_port()
    provider = OidcProvider(
        issuer=f"http://127.0.0.1:{port}",
        port=port,
        client_id="avsb-test",
        client_secret=secrets.token_urlsafe(24),
        redirect_uri=redirect_uri,
    )
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "AVSB_NODE_MODULES": str(npm.node_modules()),
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": provider.client_id,
        "OIDC_CLIENT_SECRET": provider.client_secret,
        "OIDC_REDIRECT_URI": redirect_uri,
        "NODE_ENV": "test",
    }
    proc = subprocess.Popen(
        [npm.node(), str(SCRIPT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_discovery(provider, proc)
        yield provider
    finally:
        stop_process(proc, timeout=10)


def _wait_for_discovery(provider: OidcProvider, proc: subprocess.Popen[bytes]) -> None:
    url = provider.issuer + "/.well-known/openid-configuration"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"the OIDC provider exited: {err[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the OIDC provider did not serve its discovery document")


def sign_in_at_provider(browser: httpx.Client, authorization_url: str, login: str) -> str:
    """Walk the provider's pages as a person would (log in as ``login``, then consent) and
    return the URL the provider finally redirects to (the client's callback, not followed).

    ``browser`` keeps the provider's cookies between pages and must not follow redirects.
    """
    url = authorization_url
    for _ in range(20):
        response = browser.get(url)
        while response.is_redirect:
            url = str(response.next_request.url) if response.next_request else ""
            if not url.startswith(_origin(authorization_url)):
                return url  # left the provider: the redirect back to the client
            response = browser.get(url)
        assert response.status_code == 200, response.text[:2000]
        page = response.text
        found = _FORM_ACTION.search(page)
        assert found, page[:2000]
        action = html.unescape(found.group(1))
        if 'name="login"' in page:
            form = {"prompt": "login", "login": login, "password": "any password"}
        else:
            form = {"prompt": "consent"}
        posted = browser.post(action, data=form)
        assert posted.is_redirect, posted.text[:2000]
        url = str(posted.next_request.url) if posted.next_request else ""
        if not url.startswith(_origin(authorization_url)):
            return url
    raise AssertionError("the provider's sign-in did not end in a redirect to the client")


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"
