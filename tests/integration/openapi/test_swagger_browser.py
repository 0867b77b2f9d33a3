"""``/docs`` in a real browser (Debian Chromium, headless): a token entered in Swagger UI's
Authorize dialog is sent, and "Try it out" on ``GET /api/me`` answers 200."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.servers import ApiClient

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Debian chromium and chromedriver are required (apt install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1400,2000",
                 f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_docs__authorize_then_try_it_out_answers_200(browser: WebDriver, api: ApiClient) -> None:
    wait = WebDriverWait(browser, 60)
    browser.get(f"{api.server.url}/docs")
    try:
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button.authorize"))).click()
        field = wait.until(
            ec.visibility_of_element_located(
                (By.CSS_SELECTOR, "input[aria-label='auth-bearer-value']")
            )
        )
        field.send_keys(api.token)
        container = field.find_element(By.XPATH, "ancestor::form")
        container.find_element(By.CSS_SELECTOR, "button.authorize").click()
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button.btn-done"))).click()

        operation = wait.until(
            ec.presence_of_element_located(
                (By.CSS_SELECTOR, "[id^='operations-'][id$='get_me_api_me_get']")
            )
        )
        operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button.try-out__btn"))).click()
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button.execute"))).click()
        status = wait.until(
            ec.visibility_of_element_located(
                (By.CSS_SELECTOR, ".live-responses-table .response .response-col_status")
            )
        )
        body = operation.find_element(
            By.CSS_SELECTOR, ".live-responses-table .response .response-col_description"
        )
        assert status.text.strip() == "200"
        assert api.org_id in body.text
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "swagger-authorize.png"))
