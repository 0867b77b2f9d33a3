"""The experiment form's live sample-size estimate in headless Chromium: an input the tools
service refuses is shown on the page (where and why) and leaves nothing in the console (the
form's own estimate route answers 200 with the problem, not a failed request), and the
"Estimate" button still shows it beside the field without the script's help."""

from __future__ import annotations

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.integration.dashboard.browser import (
    clean,
    loaded,
    module_driver,
    shot,
    type_into,
    wait_for,
)
from tests.integration.dashboard.conftest import api_token, join, new_org, shop_with_buys
from tests.support.browser import console_errors
from tests.support.servers import LiveServer

__all__ = ["module_driver"]


def test_live_estimate__refused_input_shown_without_console_errors(
    module_driver: webdriver.Chrome, dash_server: LiveServer
) -> None:
    driver, base = module_driver, dash_server.url
    org = new_org(dash_server)
    with api_token(dash_server, org) as api:
        project, metric = shop_with_buys(api, org)
    editor = join(dash_server, org, "editor")
    editor.client.close()
    driver.get(base + "/login")
    loaded(driver)
    type_into(driver, "f-email", editor.email)
    type_into(driver, "f-password", editor.password)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(lambda: driver.current_url.endswith("/projects"))
    driver.get(f"{base}/orgs/{org}/experiments/new?project_id={project}")
    loaded(driver)
    console_errors(driver)  # read (and so drop) what came before this form
    result = driver.find_element(By.ID, "estimate-result")

    Select(driver.find_element(By.ID, f"f-metric_role.{metric}")).select_by_value("primary")
    type_into(driver, "f-analysis.mde_pct", "10")
    type_into(driver, "f-estimate.baseline_value", "0.1")
    wait_for(lambda: "units per variant" in result.text)
    # A rate above 1 for a binary metric: the tools service refuses it.
    type_into(driver, "f-estimate.baseline_value", "1.5")
    wait_for(lambda: result.text.startswith("No estimate:"))
    assert result.text == (
        "No estimate: Primary metric now (rate 0–1 or mean): a binary baseline must be in (0, 1)"
    )
    shot(driver, "design-experiment-estimate-refused")
    assert clean(driver) == []

    # Without the script's help: the button posts the form, the reason beside the field.
    driver.find_element(By.CSS_SELECTOR, "button[name='action'][value='estimate']").click()
    wait_for(lambda: bool(driver.find_elements(By.ID, "f-estimate.baseline_value-error")))
    loaded(driver)
    error = driver.find_element(By.ID, "f-estimate.baseline_value-error").text
    assert "a binary baseline must be in (0, 1)" in error
    assert clean(driver) == []
