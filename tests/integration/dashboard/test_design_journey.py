"""The design pages in headless Chromium, one journey: create a project, an exclusion group,
an audience and a metric, design an experiment (the live sample-size estimate included),
start it, bind a flag to it, lose an edit race visibly (both versions shown), and see the
pages as a viewer (no edit buttons). No console errors, no injected script; screenshots
under tests/artifacts/dashboard/."""

from __future__ import annotations

import re

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.integration.dashboard.browser import (
    clean,
    fits_width,
    loaded,
    module_driver,
    shot,
    type_into,
    wait_for,
)
from tests.integration.dashboard.conftest import XSS, api_token, join, new_org
from tests.support.servers import LiveServer

__all__ = ["module_driver"]


def _open(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url)
    loaded(driver)


def _choose(driver: webdriver.Chrome, field_id: str, value: str) -> None:
    Select(driver.find_element(By.ID, field_id)).select_by_value(value)


def _press(driver: webdriver.Chrome, label: str) -> None:
    """Click the button or link of <main> with this text and wait for the next page."""
    before = driver.current_url
    old = driver.find_element(By.TAG_NAME, "main")
    xpath = (f"//main//*[self::button or self::a][normalize-space()='{label}']"
             "[not(contains(@class, 'visually-hidden'))]")  # fmt: skip
    driver.find_element(By.XPATH, xpath).click()
    wait_for(lambda: driver.current_url != before or _stale(old))
    loaded(driver)


def _stale(element: webdriver.remote.webelement.WebElement) -> bool:
    try:
        element.is_displayed()
    except Exception:  # StaleElementReferenceException: the next page replaced it
        return True
    return False


def _created_id(driver: webdriver.Chrome, kind: str) -> str:
    found = re.search(rf"/{kind}/([^/?#]+)$", driver.current_url)
    assert found, driver.current_url
    return found.group(1)


def _sign_in(driver: webdriver.Chrome, base: str, email: str, password: str) -> None:
    """Sign in with the keyboard only (type, Tab, type, Enter), once the page has focused the
    email field (autofocus can land after the load event on a busy machine)."""
    _open(driver, base + "/login")
    wait_for(lambda: driver.switch_to.active_element.get_attribute("id") == "f-email")
    driver.switch_to.active_element.send_keys(email, Keys.TAB)
    driver.switch_to.active_element.send_keys(password, Keys.ENTER)
    wait_for(lambda: driver.current_url.endswith("/projects"))
    loaded(driver)


def _heading(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "main h1").text)


def test_design_journey(module_driver: webdriver.Chrome, dash_server: LiveServer) -> None:
    driver, base = module_driver, dash_server.url
    org = new_org(dash_server)
    editor, viewer = join(dash_server, org, "editor"), join(dash_server, org, "viewer")
    editor.client.close()  # the journey is the browser's; the people's own clients are unused
    viewer.client.close()
    orgs = f"{base}/orgs/{org}"
    _sign_in(driver, base, editor.email, editor.password)

    # A project (the skeleton's page), then an exclusion group, an audience and a metric.
    _open(driver, f"{orgs}/projects/new")
    type_into(driver, "f-name", "Shop")
    type_into(driver, "f-key", "shop")
    _press(driver, "Create project")
    project = _created_id(driver, "projects")

    _open(driver, f"{orgs}/exclusion-groups/new?project_id={project}")
    type_into(driver, "f-name", "Checkout layer")
    type_into(driver, "f-key", "checkout")
    _press(driver, "Create group")
    group = _created_id(driver, "exclusion-groups")

    _open(driver, f"{orgs}/audiences/new?project_id={project}")
    type_into(driver, "f-name", "EU buyers")
    type_into(driver, "f-key", "eu")
    type_into(driver, "f-description", XSS)
    type_into(driver, "f-conditions.rows.0.attribute", "country")
    _choose(driver, "f-conditions.rows.0.operator", "in")
    type_into(driver, "f-conditions.rows.0.value", "DE, FR")
    shot(driver, "design-audience-form")
    _press(driver, "Create audience")
    audience = _created_id(driver, "audiences")
    assert XSS in driver.find_element(By.TAG_NAME, "main").text  # shown as text
    type_into(driver, "f-unit_id", "u1")
    type_into(driver, "f-attributes", "country=FR")
    _press(driver, "Test")
    assert "In the audience" in driver.find_element(By.CSS_SELECTOR, ".verdict").text
    shot(driver, "design-audience-test-unit")
    assert clean(driver) == []

    _open(driver, f"{orgs}/metrics/new?project_id={project}")
    type_into(driver, "f-name", "Purchases")
    type_into(driver, "f-key", "purchase")
    type_into(driver, "f-event_name", "purchase")
    _press(driver, "Create metric")
    metric = _created_id(driver, "metrics")
    assert clean(driver) == []

    # The experiment: variants, targeting, metric role; the live estimate; Enter saves.
    _open(driver, f"{orgs}/experiments/new?project_id={project}")
    assert driver.title == "New experiment · AvsB"
    type_into(driver, "f-name", "Shorter checkout")
    type_into(driver, "f-key", "short-checkout")
    _choose(driver, "f-exclusion_group_id", group)
    _choose(driver, "f-audience_id", audience)
    type_into(driver, "f-traffic_percent", "40")
    type_into(driver, "f-variants.0.params", "steps=3")
    type_into(driver, "f-variants.1.params", "steps=1")
    _choose(driver, f"f-metric_role.{metric}", "primary")
    type_into(driver, "f-analysis.mde_pct", "10")
    type_into(driver, "f-estimate.expected_daily_traffic", "5000")
    type_into(driver, "f-estimate.baseline_value", "0.1")
    result = driver.find_element(By.ID, "estimate-result")
    wait_for(lambda: "units per variant" in result.text)
    assert "days" in result.text
    shot(driver, "design-experiment-form")
    assert fits_width(driver)  # wide tables scroll in their own box, not the page
    driver.find_element(By.ID, "f-name").send_keys(Keys.ENTER)
    wait_for(lambda: "/new" not in driver.current_url)
    loaded(driver)
    experiment = _created_id(driver, "experiments")
    assert "draft" in _heading(driver)
    assert clean(driver) == []

    # Start it, after a confirmation that says what will happen.
    _press(driver, "Start")
    assert "can no longer change" in driver.find_element(By.TAG_NAME, "main").text
    shot(driver, "design-experiment-start-confirm")
    _press(driver, "Start experiment")
    assert "running" in _heading(driver)
    _open(driver, f"{orgs}/exclusion-groups/{group}")
    assert "Free: 60.00%" in driver.find_element(By.TAG_NAME, "main").text
    shot(driver, "design-exclusion-group-bar")

    # A flag bound to it, from the experiment's page.
    _open(driver, f"{orgs}/experiments/{experiment}")
    _press(driver, "Create a flag bound to it")
    assert (
        Select(driver.find_element(By.ID, "f-experiment_id")).first_selected_option.get_attribute(
            "value"
        )
        == experiment
    )
    _choose(driver, "f-type", "number")
    type_into(driver, "f-default_value", "3")
    type_into(driver, "f-key", "checkout-steps")
    _press(driver, "Create flag")
    flag = _created_id(driver, "flags")
    assert "Shorter checkout" in driver.find_element(By.TAG_NAME, "main").text
    assert clean(driver) == []

    # The flag edited, then its first revision restored from its history.
    _press(driver, "Edit")
    type_into(driver, "f-default_value", "5")
    _press(driver, "Save")
    assert "5" in driver.find_element(By.TAG_NAME, "main").text
    driver.find_element(By.PARTIAL_LINK_TEXT, "History").click()
    wait_for(lambda: "/revisions/flag/" in driver.current_url)
    loaded(driver)
    shot(driver, "design-flag-history")
    history = driver.current_url
    driver.find_element(By.CSS_SELECTOR, "main a[href$='/1/restore']").click()  # revision 1
    wait_for(lambda: driver.current_url == history + "/1/restore")
    loaded(driver)
    _press(driver, "Restore revision 1")
    assert "Revision 1 restored." in driver.find_element(By.CSS_SELECTOR, ".flashes").text
    with api_token(dash_server, org) as api:
        restored = api.get(f"/api/orgs/{org}/flags/{flag}").json()["data"]
    assert restored["default_value"] == 3
    assert clean(driver) == []

    # An edit race: someone saves through the API while the form is open.
    _open(driver, f"{orgs}/experiments/{experiment}/edit")
    with api_token(dash_server, org) as api:
        url = f"/api/orgs/{org}/experiments/{experiment}"
        etag = api.get(url).headers["etag"]
        r = api.patch(url, json={"name": "Renamed by the API"}, headers={"If-Match": etag})
        assert r.status_code == 200, r.text
    type_into(driver, "f-name", "Renamed in the browser")
    _press(driver, "Save")
    page = driver.find_element(By.TAG_NAME, "main").text
    assert "changed while you were editing" in page
    assert "Renamed in the browser" in page
    assert "Renamed by the API" in page
    shot(driver, "design-experiment-conflict")
    assert clean(driver, 409) == []
    _press(driver, "Save my version over it")
    assert "Renamed in the browser" in _heading(driver)

    # A viewer sees the pages without any edit button.
    _press_sign_out(driver)
    _sign_in(driver, base, viewer.email, viewer.password)
    for path in (f"experiments/{experiment}", "experiments", "exclusion-groups",
                 f"audiences/{audience}", "flags", f"metrics/{metric}"):  # fmt: skip
        _open(driver, f"{orgs}/{path}")
        main = driver.find_element(By.TAG_NAME, "main")
        labels = [e.text for e in main.find_elements(By.CSS_SELECTOR, "a.button, button")]
        # reading controls only: filter a list, test a unit, run the design review again
        assert not [t for t in labels if t not in ("Filter", "Test", "Review again")], (
            path,
            labels,
        )
        assert clean(driver) == []
        assert fits_width(driver), path
    shot(driver, "design-experiment-viewer")


def _press_sign_out(driver: webdriver.Chrome) -> None:
    driver.find_element(By.XPATH, "//form[@class='logout']//button").click()
    wait_for(lambda: "/login" in driver.current_url)
    loaded(driver)
