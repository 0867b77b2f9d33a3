"""Every dashboard page in headless Chromium, with `<script>alert(1)</script>` stored in each
name it renders (organisation, person, project, token, personal token, audit actor): shown as
text, no alert, no console error; every page has a title, every field a label."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.integration.dashboard.browser import (
    PHONE,
    WIDE,
    clean,
    fits_width,
    module_driver,
    shot,
    sign_in_by_keyboard,
    wait_for,
)
from tests.integration.dashboard.conftest import XSS, Person, api_token, join, new_org
from tests.support.servers import LiveServer

__all__ = ["module_driver"]

# Inputs without a <label> (hidden ones need none; the file picker of the import is labelled).
UNLABELLED = """
return Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML);
"""


@pytest.fixture(scope="module")
def owner(dash_server: LiveServer) -> Iterator[tuple[Person, str]]:
    """An owner named XSS of an organisation named XSS, with XSS-named things in it."""
    org_id = new_org(dash_server, name=XSS)
    person = join(dash_server, org_id, "owner", name=XSS)
    join(dash_server, org_id, "viewer", name=XSS).client.close()
    with api_token(dash_server, org_id) as api:
        r = api.post(f"/api/orgs/{org_id}/projects", json={"key": "xss", "name": XSS})
        assert r.status_code == 201
        project_id = r.json()["data"]["id"]
        r = api.post(f"/api/orgs/{org_id}/tokens", json={"name": XSS, "scopes": ["audit:read"]})
        assert r.status_code == 201
        r = api.post(
            f"/api/orgs/{org_id}/tokens",
            json={"name": XSS, "kind": "sdk", "project_id": project_id},
        )
        assert r.status_code == 201
    r = person.client.post("/api/me/tokens", json={"name": XSS, "scopes": ["projects:read"]},
                           headers={"X-CSRF-Token": person.csrf})  # fmt: skip
    assert r.status_code == 201, r.text
    yield person, org_id
    person.client.close()


def test_every_page__markup_as_text_titled_labelled(
    module_driver: webdriver.Chrome, dash_server: LiveServer, owner: tuple[Person, str]
) -> None:
    driver = module_driver
    person, org_id = owner
    sign_in_by_keyboard(driver, dash_server.url, person.email, person.password)
    org = f"/orgs/{org_id}"
    project_link = driver.find_element(By.LINK_TEXT, XSS).get_attribute("href") or ""
    project_id = project_link.rsplit("/", 1)[1]
    pages = {
        "projects": f"{org}/projects",
        "project": f"{org}/projects/{project_id}",
        "project-edit": f"{org}/projects/{project_id}/edit",
        "revisions": f"{org}/revisions/project/{project_id}",
        "members": f"{org}/members",
        "tokens": f"{org}/tokens",
        "account": "/account",
        "audit": f"{org}/audit",
        "workspace": f"{org}/workspace",
        "archive-confirm": f"{org}/projects/{project_id}/archive",
    }
    problems: dict[str, list[str]] = {}
    for name, path in pages.items():
        driver.get(dash_server.url + path)
        wait_for(lambda: driver.execute_script("return document.readyState") == "complete")
        found = clean(driver)
        title = driver.title
        if not title.endswith(" · AvsB") or len(title) <= len(" · AvsB"):
            found.append(f"title {title!r}")
        found += [f"no label: {html}" for html in driver.execute_script(UNLABELLED)]
        if len(driver.find_elements(By.CSS_SELECTOR, "main")) != 1:
            found.append("no single <main>")
        shows_names = name in ("projects", "project", "members", "tokens", "account", "audit")
        if shows_names and XSS not in driver.find_element(By.TAG_NAME, "body").text:
            found.append("the stored name is not shown as text")
        if (
            name != "archive-confirm"
            and XSS not in driver.find_element(By.CSS_SELECTOR, ".topbar").text
        ):
            found.append("the organisation's name is not shown as text")
        if not fits_width(driver):
            found.append("scrolls sideways at 1280 px")
        shot(driver, f"page-{name}")
        if found:
            problems[name] = found
    driver.set_window_size(*PHONE)
    try:
        for name in ("members", "tokens", "audit"):
            driver.get(dash_server.url + pages[name])
            wait_for(lambda: driver.execute_script("return document.readyState") == "complete")
            if not fits_width(driver):
                problems.setdefault(name, []).append("scrolls sideways at phone width")
            shot(driver, f"page-{name}-phone")
    finally:
        driver.set_window_size(*WIDE)
    assert problems == {}
