"""Screenshots of the emulator's web console for docs/PBX_EMULATOR.md.

Starts the emulator and the reference CRM in-process on loopback, logs in with Debian's
headless Chromium (as tests/test_console_browser.py does), sends one test notification
and saves ``settings.png`` and ``debug.png`` next to this file. Run it again when the
console's pages change:

    python docs/console/screenshot.py
"""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from conformance.reference.crm import ReferenceCrm
from conformance.reference.pbx import Pbx
from conformance.reference.pbx.plans import Scenario
from conformance.reference.server import serve

HERE = Path(__file__).resolve().parent
CLIENT_ID = "000003C405E6525C64C184258C44EC99"  # the guide's example (tests/support.py)
CLIENT_KEY = "00000716ABDA6D4DFF10F82BCBBFC532"
TOKEN = secrets.token_urlsafe(24)  # typed into the login form, never kept
WAIT = 5.0


def chrome() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1200,900")
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_page_load_timeout(30)
    return browser


def by_id(driver: WebDriver, ident: str) -> WebElement:
    found: WebElement = WebDriverWait(driver, WAIT).until(
        ec.presence_of_element_located((By.ID, ident)), f"no #{ident} on {driver.current_url}"
    )
    return found


def submit(driver: WebDriver, button: WebElement) -> None:
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, WAIT).until(ec.staleness_of(page))


def main() -> int:
    pbx = Pbx(admin_token=TOKEN, scenario=Scenario(ring_ms=0, announcement_ms=0, talk_ms=0))
    crm = serve(ReferenceCrm(CLIENT_ID, CLIENT_KEY), "127.0.0.1", 0)
    pbx.registry.create(
        {
            "client_id": CLIENT_ID,
            "client_key": CLIENT_KEY,
            "external_address": crm.url.removeprefix("http://"),
            "enabled": True,
        }
    )
    listening = pbx.start("127.0.0.1", 0, 0)
    driver = chrome()
    try:
        driver.get(f"{listening.http.url}/console")
        by_id(driver, "token").send_keys(TOKEN)
        submit(driver, by_id(driver, "login"))
        by_id(driver, "settings-form")
        driver.save_screenshot(str(HERE / "settings.png"))
        submit(driver, by_id(driver, "nav-debug"))
        Select(by_id(driver, "state")).select_by_value("new")
        submit(driver, by_id(driver, "send-test"))
        by_id(driver, "test-result")
        driver.save_screenshot(str(HERE / "debug.png"))
    finally:
        driver.quit()
        listening.stop()
        crm.stop()
    print(f"saved {HERE / 'settings.png'} and {HERE / 'debug.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
