"""The webhooks pages over HTTP against a real loopback receiver: create (secret shown once),
a test delivery answered on the page, failed deliveries with every attempt, re-send, the
on / off switch and delete after confirmation, and what an editor (no webhooks:write) sees."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest

from tests.integration.dashboard.conftest import FAST_HASH, Team, hidden, join, main_of, new_org
from tests.integration.webhooks.conftest import hook_env_at
from tests.integration.webhooks.receiver import Receiver, wait_until
from tests.support.servers import LiveServer


@pytest.fixture(scope="module")
def hook_dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server on a database of its own: the suite's other servers run webhook workers too
    (without loopback receivers allowed), and one of them must not claim these deliveries."""
    with hook_env_at(tmp_path_factory.mktemp("dash-hooks")) as env:
        yield env.start(**FAST_HASH, webhook_retry_schedule_seconds=[0.2])


@pytest.fixture
def people(hook_dash: LiveServer) -> Iterator[Team]:
    org_id = new_org(hook_dash, f"hooks-{secrets.token_hex(3)}")
    members = {r: join(hook_dash, org_id, r) for r in ("editor", "admin")}
    yield Team(org_id, members)
    for person in members.values():
        person.client.close()


def test_webhook__create_test_fail_resend_and_delete(people: Team) -> None:
    admin = people["admin"]
    with Receiver([200, 500, 500, 500, 500, 500]) as receiver:
        form = {"url": receiver.url(), "event_types": "flag.updated", "enabled": "on",
                "description": "<b>ops</b>"}  # fmt: skip
        bad = admin.post_form(people.url("/webhooks/new"), {**form, "url": "not a url"})
        assert bad.status_code == 422
        assert 'id="f-url-error"' in main_of(bad.text)
        created = admin.post_form(people.url("/webhooks/new"), form)
        assert created.status_code == 201, main_of(created.text)
        assert re.search(r'<input id="secret" type="text" readonly value="whsec_', created.text)
        url = re.search(r'href="(/orgs/[^"]+/webhooks/[^"]+)">Done', created.text)
        assert url is not None
        page_url = url.group(1)
        page = main_of(admin.get(page_url).text)
        assert "&lt;b&gt;ops&lt;/b&gt;" in page
        assert "whsec_" not in page  # never shown again

        # A test delivery succeeds (200), the next one fails (500) and is recorded as such.
        r = admin.post_form(page_url + "/test", {})
        assert r.status_code == 303
        assert "Test delivered" in admin.get(r.headers["location"]).text
        r = admin.post_form(page_url + "/test", {})
        assert "Test not delivered: HTTP 500" in admin.get(r.headers["location"]).text

        def failed_page() -> str:
            return main_of(admin.get(page_url + "?status=failed").text)

        wait_until(lambda: "Re-send" in failed_page(), what="a failed delivery")
        body = failed_page()
        assert "<td>500</td>" in body
        delivery = re.search(r'action="([^"]+/retry)"', body)
        assert delivery is not None
        before = len(receiver.received)
        r = admin.post_form(delivery.group(1), {})
        assert r.status_code == 303
        assert "queued to be sent again" in admin.get(page_url).text
        receiver.wait_for(before + 1)  # the worker sent it again

    # The on / off switch and delete ask first.
    ask = admin.get(page_url + "/toggle")
    assert "Turn this webhook off?" in ask.text
    assert (
        admin.post_form(page_url + "/toggle", {"etag": hidden(ask.text, "etag")}).status_code == 303
    )
    assert "<dd>off</dd>" in main_of(admin.get(page_url).text)
    editor = people["editor"]
    assert editor.get(people.url("/webhooks")).status_code == 200
    assert "Send a test" not in main_of(editor.get(page_url).text)
    assert editor.post_form(page_url + "/test", {}).status_code == 403
    ask = admin.get(page_url + "/delete")
    r = admin.post_form(page_url + "/delete", {"etag": hidden(ask.text, "etag")})
    assert r.status_code == 303
    assert admin.get(page_url).status_code == 404
