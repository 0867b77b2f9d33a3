"""The dashboard in headless Chromium: keyboard sign-in, sign-in errors, the projects pages at
desktop and phone width, no console errors, stored markup shown as text."""

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
from tests.integration.dashboard.conftest import XSS, Person, join, new_org
from tests.support.browser import console_errors
from tests.support.servers import LiveServer

__all__ = ["module_driver"]


@pytest.fixture(scope="module")
def editor(dash_server: LiveServer) -> Iterator[Person]:
    person = join(dash_server, new_org(dash_server), "editor")
    yield person
    person.client.close()


def test_wrong_password__message_on_the_page(
    module_driver: webdriver.Chrome, dash_server: LiveServer, editor: Person
) -> None:
    driver = module_driver
    driver.get(dash_server.url + "/login")
    driver.find_element(By.ID, "f-email").send_keys(editor.email)
    driver.find_element(By.ID, "f-password").send_keys("not the password")
    driver.find_element(By.ID, "sign-in").click()
    box = driver.find_element(By.CSS_SELECTOR, "[data-login-error]")
    wait_for(box.is_displayed)
    assert box.text == "The email or password is not correct."
    assert driver.current_url.endswith("/login")
    shot(driver, "login-error")
    # Only the sign-in request's 401 is logged (and read away here).
    assert [e for e in console_errors(driver) if "status of 401" not in e] == []


def test_keyboard_sign_in__projects_page_without_console_errors(
    module_driver: webdriver.Chrome, dash_server: LiveServer, editor: Person
) -> None:
    driver = module_driver
    sign_in_by_keyboard(driver, dash_server.url, editor.email, editor.password)
    assert driver.title == "Projects · AvsB"
    assert driver.find_element(By.CSS_SELECTOR, "main h1").text == "Projects"
    shot(driver, "projects-empty")
    assert clean(driver) == []


def test_create_with_markup_name__shown_as_text_at_both_widths(
    module_driver: webdriver.Chrome, dash_server: LiveServer, editor: Person
) -> None:
    driver = module_driver
    driver.find_element(By.LINK_TEXT, "New project").click()
    wait_for(lambda: driver.title == "New project · AvsB")
    driver.find_element(By.ID, "f-name").send_keys(XSS)
    driver.find_element(By.ID, "f-key").send_keys("bad key")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(lambda: bool(driver.find_elements(By.ID, "f-key-error")))
    shot(driver, "project-form-errors")
    key = driver.find_element(By.ID, "f-key")
    error = driver.find_element(By.ID, "f-key-error")
    assert key.get_attribute("aria-invalid") == "true"
    assert error.location["y"] < key.location["y"] + key.size["height"]  # beside, not below
    assert clean(driver, 422) == []
    key.clear()
    key.send_keys("xss-project")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "main h1")[0].text == XSS)
    assert driver.title == f"{XSS} · AvsB"
    assert "created" in driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert clean(driver) == []
    shot(driver, "project-detail")
    driver.find_element(By.LINK_TEXT, "Projects").click()
    wait_for(lambda: driver.title == "Projects · AvsB")
    assert driver.find_element(By.LINK_TEXT, XSS).is_displayed()
    assert fits_width(driver)
    shot(driver, "projects-1280")
    driver.set_window_size(*PHONE)
    try:
        driver.refresh()
        wait_for(lambda: driver.title == "Projects · AvsB")
        assert fits_width(driver)
        assert driver.find_element(By.LINK_TEXT, XSS).is_displayed()
        shot(driver, "projects-phone")
        assert clean(driver) == []
    finally:
        driver.set_window_size(*WIDE)
