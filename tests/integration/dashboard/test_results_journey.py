"""Browser journey: events ingested through the API; the results page opened, refreshed and
read (lift, decision) at desktop and phone width; the experiment stopped from the page. No
console errors; screenshots under tests/artifacts/dashboard/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from avsb.server.dashboard.views import results_view as rv
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
from tests.integration.dashboard.conftest import Person, join, new_org
from tests.integration.dashboard.test_results_pages import api_client
from tests.integration.results.test_results_api import make_lab, population
from tests.support.servers import ApiClient, LiveServer

__all__ = ["module_driver"]


@pytest.fixture(scope="module")
def editor(dash_server: LiveServer) -> Iterator[tuple[Person, ApiClient]]:
    org_id = new_org(dash_server)
    person = join(dash_server, org_id, "editor")
    with api_client(dash_server, org_id) as api:
        yield person, api
    person.client.close()


def test_ingest__read_lift_and_decision__stop(
    module_driver: webdriver.Chrome, dash_server: LiveServer, editor: tuple[Person, ApiClient]
) -> None:
    driver = module_driver
    person, api = editor
    lab = make_lab(api)
    lab.send(population("exp", 600, (0.1, 0.2)))  # ingested through the API
    sign_in_by_keyboard(driver, dash_server.url, person.email, person.password)
    url = f"{dash_server.url}/orgs/{api.org_id}/experiments/{lab.experiment['id']}/results"

    driver.get(url)
    assert driver.title == "Results of Exp · AvsB"
    assert "never" in driver.find_element(By.ID, "snapshot-age").text
    driver.find_element(By.XPATH, "//button[normalize-space()='Refresh results']").click()
    wait_for(lambda: "just now" in driver.find_element(By.ID, "snapshot-age").text)

    data = lab.results()  # the same events: the API's answer
    metric = next(m for m in data["metrics"] if m["key"] == "conversion")
    means = {v["key"]: v["mean"] for v in metric["variants"]}
    row = driver.find_element(By.CSS_SELECTOR, "#metric-conversion tr[data-variant=treatment]")
    lift = row.find_element(By.CSS_SELECTOR, "td.lift").text
    assert lift == rv.percent(means["treatment"] / means["control"] - 1, signed=True)
    decision = driver.find_element(By.ID, "decision").text
    assert decision == "Ship treatment"
    assert data["decision"]["decision"] == "ship"
    assert driver.find_elements(By.CSS_SELECTOR, "svg.lift-bar")  # drawn by the server
    shot(driver, "results-wide")
    assert clean(driver) == []

    driver.set_window_size(*PHONE)
    try:
        driver.refresh()
        wait_for(lambda: bool(driver.find_elements(By.ID, "decision")))
        assert fits_width(driver)
        shot(driver, "results-phone")
    finally:
        driver.set_window_size(*WIDE)

    driver.get(url + "#stop")
    Select(driver.find_element(By.ID, "winner")).select_by_value("treatment")
    driver.find_element(By.ID, "reason").send_keys("Conversion up, guardrail holds.")
    driver.find_element(By.CSS_SELECTOR, "#stop button[type=submit]").click()
    wait_for(lambda: "stopped" in driver.find_element(By.CSS_SELECTOR, ".flashes").text)
    shot(driver, "results-stopped")
    assert clean(driver) == []
    stored = api.get(lab.path()).json()["data"]
    assert stored["status"] == "stopped"
    assert stored["decision"]["winner"] == "treatment"
