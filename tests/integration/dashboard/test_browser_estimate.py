"""The experiment form's live sample-size estimate in headless Chromium: an input the tools
service refuses is shown on the page (where and why) and leaves nothing in the console (the
form's own estimate route answers 200 with the problem, not a failed request), and the
"Estimate" button still shows it beside the field without the script's help."""

from __future__ import annotations

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.integration.dashboard.browser import clean, module_driver, shot, wait_for
from tests.integration.dashboard.conftest import api_token, join, new_org
from tests.support.browser import console_errors
from tests.support.servers import LiveServer

__all__ = ["module_driver"]


def _loaded(driver: webdriver.Chrome) -> None:
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete")


def _type(driver: webdriver.Chrome, field_id: str, text: str) -> None:
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(text)


def test_live_estimate__refused_input_shown_without_console_errors(
    module_driver: webdriver.Chrome, dash_server: LiveServer
) -> None:
    driver, base = module_driver, dash_server.url
    org = new_org(dash_server)
    with api_token(dash_server, org) as api:
        r = api.post(f"/api/orgs/{org}/projects", json={"key": "shop", "name": "Shop"})
        assert r.status_code == 201, r.text
        project = r.json()["data"]["id"]
        r = api.post(f"/api/orgs/{org}/metrics", json={
            "project_id": project, "key": "buy", "name": "Buys", "type": "binary",
            "event_name": "buy"})  # fmt: skip
        assert r.status_code == 201, r.text
        metric = r.json()["data"]["id"]
    editor = join(dash_server, org, "editor")
    editor.client.close()
    driver.get(base + "/login")
    _loaded(driver)
    _type(driver, "f-email", editor.email)
    _type(driver, "f-password", editor.password)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(lambda: driver.current_url.endswith("/projects"))
    driver.get(f"{base}/orgs/{org}/experiments/new?project_id={project}")
    _loaded(driver)
    console_errors(driver)  # read (and so drop) what came before this form
    result = driver.find_element(By.ID, "estimate-result")

    Select(driver.find_element(By.ID, f"f-metric_role.{metric}")).select_by_value("primary")
    _type(driver, "f-analysis.mde_pct", "10")
    _type(driver, "f-estimate.baseline_value", "0.1")
    wait_for(lambda: "units per variant" in result.text)
    # A rate above 1 for a binary metric: the tools service refuses it.
    _type(driver, "f-estimate.baseline_value", "1.5")
    wait_for(lambda: result.text.startswith("No estimate:"))
    assert result.text == (
        "No estimate: Primary metric now (rate 0–1 or mean): a binary baseline must be in (0, 1)"
    )
    shot(driver, "design-experiment-estimate-refused")
    assert clean(driver) == []

    # Without the script's help: the button posts the form, the reason beside the field.
    driver.find_element(By.CSS_SELECTOR, "button[name='action'][value='estimate']").click()
    wait_for(lambda: bool(driver.find_elements(By.ID, "f-estimate.baseline_value-error")))
    _loaded(driver)
    error = driver.find_element(By.ID, "f-estimate.baseline_value-error").text
    assert "a binary baseline must be in (0, 1)" in error
    assert clean(driver) == []
