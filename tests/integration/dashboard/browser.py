"""A shared headless Chromium for dashboard pages: signing in through the form, waiting for
pages, screenshots under tests/artifacts/dashboard/ and console / alert checks.

One driver per test module (``module_driver`` fixture below, imported by the browser test
modules): Chromium is heavy and CI has two cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.support.browser import ARTIFACTS, chromium, console_errors

SHOTS = ARTIFACTS / "dashboard"
WIDE = (1280, 900)
PHONE = (390, 844)


@pytest.fixture(scope="module")
def module_driver() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        driver.set_window_size(*WIDE)
        yield driver


def _holds(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (StaleElementReferenceException, NoSuchElementException, IndexError):
        return False  # the page is being replaced: look again


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Until ``check()`` holds (elements of a page being replaced count as not yet)."""
    deadline = time.monotonic() + timeout
    while not _holds(check):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the page")
        time.sleep(0.05)


def loaded(driver: webdriver.Chrome) -> None:
    """Until the current page has loaded."""
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete")


def type_into(driver: webdriver.Chrome, field_id: str, text: str) -> None:
    """Replace the text of the field whose id is ``field_id``."""
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(text)


def shot(driver: webdriver.Chrome, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def no_alert(driver: webdriver.Chrome) -> bool:
    try:
        driver.switch_to.alert  # noqa: B018 - the lookup is the check
    except NoAlertPresentException:
        return True
    return False


def clean(driver: webdriver.Chrome, status: int | None = None) -> list[str]:
    """Problems of the current page: console errors, and an open alert (script injected).

    ``status``: the page's own expected error status (a form shown again answers 422, which
    Chromium logs as a failed load of the document); only that one entry is let through."""
    expected = (
        f"{driver.current_url} - Failed to load resource: the server responded with a status "
        f"of {status} "
    )
    problems = [e for e in console_errors(driver) if not (status and e.startswith(expected))]
    if not no_alert(driver):
        problems.append("an alert is open")
    return problems


def sign_in_by_keyboard(driver: webdriver.Chrome, base: str, email: str, password: str) -> None:
    """Sign in with the keyboard only: type, Tab, type, Tab to the button, Enter."""
    driver.get(base + "/login")
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete")
    # autofocus may land a moment after the load event on a loaded machine
    wait_for(lambda: driver.switch_to.active_element.get_attribute("id") == "f-email")
    active = driver.switch_to.active_element
    active.send_keys(email, Keys.TAB)
    driver.switch_to.active_element.send_keys(password, Keys.TAB)
    button = driver.switch_to.active_element
    assert button.get_attribute("id") == "sign-in"
    button.send_keys(Keys.ENTER)
    wait_for(lambda: driver.current_url.endswith("/projects"))
    wait_for(lambda: bool(driver.find_elements(By.CSS_SELECTOR, "main h1")))


def fits_width(driver: webdriver.Chrome) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll inside their box)."""
    return bool(
        driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
    )
