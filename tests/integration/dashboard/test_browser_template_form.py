"""A template's design edited with the experiment form's fields in headless Chromium: a person
changes the weights and a metric's role and saves (the API has the new design); a weight that
breaks the sum is said beside the variants; nothing in the console (CSP: no inline script or
style)."""

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
from tests.support.servers import LiveServer

__all__ = ["module_driver"]


def test_template_design_form__weights_and_metric_saved_error_beside_variants(
    module_driver: webdriver.Chrome, dash_server: LiveServer
) -> None:
    driver, base = module_driver, dash_server.url
    org = new_org(dash_server)
    with api_token(dash_server, org) as api:
        project, metric = shop_with_buys(api, org)
        variants = [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}]
        r = api.post(f"/api/orgs/{org}/templates", json={
            "project_id": project, "key": "base", "name": "Base",
            "body": {"variants": variants}})  # fmt: skip
        assert r.status_code == 201, r.text
        template = r.json()["data"]["id"]
    editor = join(dash_server, org, "editor")
    editor.client.close()
    driver.get(base + "/login")
    loaded(driver)
    type_into(driver, "f-email", editor.email)
    type_into(driver, "f-password", editor.password)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(lambda: driver.current_url.endswith("/projects"))
    url = f"{base}/orgs/{org}/templates/{template}"

    driver.get(url + "/edit")
    loaded(driver)
    type_into(driver, "f-variants.0.weight", "30")
    type_into(driver, "f-variants.1.weight", "60")  # sums to 90
    driver.find_element(By.XPATH, "//button[text()='Save template']").click()
    wait_for(lambda: bool(driver.find_elements(By.ID, "f-variants-error")))
    loaded(driver)
    assert "sum to 100" in driver.find_element(By.ID, "f-variants-error").text
    shot(driver, "design-template-form-error")
    assert clean(driver, 422) == []

    type_into(driver, "f-variants.1.weight", "70")
    type_into(driver, "f-variants.1.params", "steps=1")
    Select(driver.find_element(By.ID, f"f-metric_role.{metric}")).select_by_value("guardrail")
    driver.find_element(By.XPATH, "//button[text()='Save template']").click()
    wait_for(lambda: driver.current_url == url)
    loaded(driver)
    assert clean(driver) == []
    with api_token(dash_server, org) as api:
        body = api.get(f"/api/orgs/{org}/templates/{template}").json()["data"]["body"]
    assert [(v["key"], v["weight"], v["params"]) for v in body["variants"]] == [
        ("control", 30, {}), ("treatment", 70, {"steps": "1"}),
    ]  # fmt: skip
    assert body["metrics"]["guardrail"] == [metric]
