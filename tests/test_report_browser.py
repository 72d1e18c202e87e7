"""index.html in a real browser: Debian's headless Chromium, driven by Selenium.

The report of a run against a CRM that skips signature checks (given its
side-effect oracle, which shows the forgeries processed) is opened from disk;
filters, search and expansion must work and nothing may be loaded from
anywhere but the file itself. `.ci/run` installs chromium and chromium-driver;
elsewhere the test skips when they are missing (never in CI).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser import chrome  # skips this module when there is no browser
from tests.faults.crm import NoSignatureCheck
from tests.support import CLIENT_ID, CLIENT_KEY, SuiteRun, crm_args, oracle, run_suite, serving


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteRun]:
    """The run's report; the broken CRM stays up so that reproductions can reach it."""
    out = tmp_path_factory.mktemp("report")
    with serving(NoSignatureCheck(CLIENT_ID, CLIENT_KEY, oracle=True)) as url:
        run = run_suite(crm_args(url, *oracle(url), "-k", "crm_webhook"), out)
        assert run.returncode == 1, run.stdout[-2000:]
        yield run


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def shown(browser: WebDriver) -> list[str]:
    return [
        str(el.get_attribute("data-case-id"))
        for el in browser.find_elements(By.CSS_SELECTOR, "article.case")
        if el.is_displayed()
    ]


def test_report_in_a_browser(report: SuiteRun, browser: WebDriver) -> None:
    page = report.report_dir / "index.html"
    browser.get(page.resolve().as_uri())
    everything = shown(browser)
    failing = report.with_verdict("fail")
    assert failing, "the fault must produce failures"
    # Failures first.
    assert set(everything[: len(failing)]) == failing
    # Nothing but the file itself was loaded.
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources == []

    # Filter by verdict.
    Select(browser.find_element(By.ID, "filter-verdict")).select_by_value("fail")
    assert set(shown(browser)) == failing
    Select(browser.find_element(By.ID, "filter-verdict")).select_by_value("all")
    assert len(shown(browser)) == len(everything)

    # Filter by method and direction: a CRM run sends only call_events, to the CRM.
    Select(browser.find_element(By.ID, "filter-direction")).select_by_value("from-crm")
    assert shown(browser) == []
    assert browser.find_element(By.ID, "no-match").is_displayed()
    Select(browser.find_element(By.ID, "filter-direction")).select_by_value("to-crm")
    Select(browser.find_element(By.ID, "filter-method")).select_by_value("call_events")
    assert len(shown(browser)) == len(everything)  # every case sent call_events
    Select(browser.find_element(By.ID, "filter-method")).select_by_value("get_record")
    assert shown(browser) == []
    Select(browser.find_element(By.ID, "filter-method")).select_by_value("all")
    Select(browser.find_element(By.ID, "filter-direction")).select_by_value("all")

    # Search by case id.
    search = browser.find_element(By.ID, "search")
    search.send_keys("crm.sign.altered")
    found = shown(browser)
    assert found
    assert all(c.startswith("crm.sign.altered") for c in found)
    search.clear()
    search.send_keys(" ")  # an input event, then back to empty
    search.clear()
    browser.execute_script(
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))", search
    )
    assert len(shown(browser)) == len(everything)

    # Expansion: a failing case opens to its exchanges, request and response.
    first = browser.find_element(By.CSS_SELECTOR, f'article.case[data-case-id="{everything[0]}"]')
    toggle = first.find_element(By.CSS_SELECTOR, ".case-toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    exchanges = first.find_elements(By.CSS_SELECTOR, "section.exchange")
    assert exchanges
    assert not exchanges[0].is_displayed()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert exchanges[0].is_displayed()
    text = exchanges[0].text
    assert "X-Client-Sign" in text
    assert "$VATS_CLIENT_ID" in first.text  # the reproduction names the variable...
    assert CLIENT_KEY not in browser.page_source  # ...and the key is nowhere
    # Pasted into a shell, the reproduction gets the same wrong answer.
    script = first.find_element(By.CSS_SELECTOR, "pre.curl").text
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": CLIENT_KEY},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    recorded = next(c for c in report.results["cases"] if c["id"] == everything[0])
    response = recorded["exchanges"][0]["response"]
    answer = done.stdout.decode()
    assert answer.startswith(f"HTTP/1.1 {response['status']} "), answer  # curl -i
    assert answer.endswith(response["body"])
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "false"

    # The section link leads to its block.
    anchor = first.get_attribute("data-section-anchor")
    assert browser.find_element(By.ID, str(anchor)).is_displayed()
