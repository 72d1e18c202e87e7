# Over 400 lines: Appendix В.1 step by step, the XSS and CSRF tests, and their browser fixtures.
"""The emulator's web console (issue 11) in a real browser: Debian's headless Chromium,
driven by Selenium, as tests/test_report_browser.py drives the report.

The console is written to /work/plan/issue11-contract.md: these tests rely on its URLs,
form fields and element ids only. The emulator and the reference CRM are served
in-process on loopback; every wait is bounded. A failing test leaves a screenshot in
``reports/browser-artifacts/<test>.png`` (reports/ is git-ignored) and names it in the
failure. `.ci/run` installs chromium and chromium-driver; elsewhere the tests skip when
they are missing (never in CI).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import (
    NoAlertPresentException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from conformance.reference.crm import ReferenceCrm
from conformance.reference.pbx import Pbx
from conformance.reference.pbx.app import Listening
from conformance.reference.pbx.plans import Scenario
from conformance.reference.server import Served, serve
from conformance.reference.web import Request, Response
from conformance.spec import signing
from tests.browser import chrome  # skips this module when there is no browser
from tests.support import CLIENT_ID, CLIENT_KEY

TOKEN = "console-admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
WAIT = 5.0  # seconds: every wait in a page
ARTIFACTS = Path(__file__).resolve().parent.parent / "reports" / "browser-artifacts"
MASK = "••••••••"


# -- the emulator, the CRM, the browser ---------------------------------------------------
@dataclass
class Emulator:
    pbx: Pbx
    listening: Listening

    @property
    def url(self) -> str:
        return self.listening.http.url

    def admin(self, verb: str, path: str, doc: Any = None) -> Any:
        with httpx.Client(timeout=WAIT * 2) as http:
            answer = http.request(verb, f"{self.url}/admin{path}", headers=ADMIN, json=doc)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def client(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.admin("GET", f"/clients/{CLIENT_ID}")
        return doc

    def to_crm(self) -> list[dict[str, Any]]:
        """The log's notifications to the CRM, oldest first."""
        entries: list[dict[str, Any]] = self.admin(
            "GET", f"/clients/{CLIENT_ID}/log?direction=to_crm"
        )["entries"]
        return entries


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The emulator on loopback with one client: SSL on, no address, service off
    (as a new account starts, В.1), calls played without pauses."""
    pbx = Pbx(admin_token=TOKEN, scenario=Scenario(ring_ms=0, announcement_ms=0, talk_ms=0))
    pbx.registry.create({"client_id": CLIENT_ID, "client_key": CLIENT_KEY, "ssl": True})
    listening = pbx.start("127.0.0.1", 0, 0)
    try:
        yield Emulator(pbx, listening)
    finally:
        listening.stop()


@dataclass
class CountingCrm:
    """The reference CRM, counting what it answered; its key can be changed as a
    developer pastes a regenerated key into the CRM."""

    crm: ReferenceCrm = field(default_factory=lambda: ReferenceCrm(CLIENT_ID, CLIENT_KEY))
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        response = self.crm(request)
        with self.lock:
            self.answered += 1
        return response


@pytest.fixture
def crm() -> Iterator[tuple[CountingCrm, Served]]:
    counting = CountingCrm()
    served = serve(counting, "127.0.0.1", 0)
    try:
        yield counting, served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = chrome("--window-size=1280,1000")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def driver(browser: WebDriver) -> WebDriver:
    """The module's browser with no session left from an earlier test."""
    browser.delete_all_cookies()
    return browser


def screenshot_on_failure(test: Callable[..., None]) -> Callable[..., None]:
    """A failure inside ``test`` (a fixture never sees it) saves the page as
    ``reports/browser-artifacts/<test>.png`` and names the file in the failure."""

    @functools.wraps(test)  # pytest reads the fixtures from the wrapped signature
    def run(**fixtures: Any) -> None:
        try:
            test(**fixtures)
        except (Exception, pytest.fail.Exception) as exc:
            exc.add_note(screenshot(fixtures["driver"], test.__name__))
            raise

    return run


def screenshot(driver: WebDriver, name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    try:
        saved = driver.get_screenshot_as_file(str(shot))
        url = driver.current_url
    except Exception as failed:  # noqa: BLE001 - the test's own failure is what matters
        return f"no screenshot: {type(failed).__name__}: {failed}"
    return f"screenshot of the page ({url}): {shot}" if saved else "no screenshot saved"


# -- page helpers -------------------------------------------------------------------------
def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT)


def element(driver: WebDriver, css: str) -> WebElement:
    found: WebElement = wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)),
        f"no {css} within {WAIT} s on {driver.current_url}",
    )
    return found


def by_id(driver: WebDriver, ident: str) -> WebElement:
    return element(driver, f"#{ident}")


def gone(page: WebElement) -> Callable[[WebDriver], bool]:
    """Whether ``page`` has left the document: Selenium's staleness_of, plus the answer
    chromedriver sometimes gives instead of "stale" while a navigation replaces the
    document ("Node with given id does not belong to the document"), which CI met once."""

    def left(_driver: WebDriver) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error.msg):
                return True
            raise
        return False

    return left


def submit(driver: WebDriver, button: WebElement) -> None:
    """Click a form's button and wait for the page it leads to (POST-redirect-GET)."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    wait(driver).until(gone(page), f"the form led nowhere from {driver.current_url}")
    element(driver, "body")


def go(driver: WebDriver, nav: str, title: str) -> None:
    submit(driver, by_id(driver, nav))
    assert heading(driver) == title


def heading(driver: WebDriver) -> str:
    return element(driver, "h1").text.strip()


def log_in(driver: WebDriver, base: str) -> None:
    driver.get(f"{base}/console")
    token = by_id(driver, "token")
    assert token.get_attribute("type") == "password"
    token.send_keys(TOKEN)
    submit(driver, by_id(driver, "login"))
    assert driver.current_url.split("?")[0].endswith("/console/settings")
    assert heading(driver) == "Настройка параметров"
    assert TOKEN not in driver.current_url
    assert TOKEN not in driver.page_source


def set_checkbox(box: WebElement, on: bool) -> None:
    if box.is_selected() != on:
        box.click()
    assert box.is_selected() == on


def log_rows(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#log .log-row")


def send_test(driver: WebDriver, state: str = "Новый вызов") -> str:
    Select(by_id(driver, "state")).select_by_visible_text(state)
    submit(driver, by_id(driver, "send-test"))
    return by_id(driver, "test-result").text


def filter_log(driver: WebDriver, method: str, direction: str) -> list[WebElement]:
    Select(by_id(driver, "log-method")).select_by_value(method)
    Select(by_id(driver, "log-direction")).select_by_value(direction)
    submit(driver, by_id(driver, "refresh"))
    return log_rows(driver)


def no_alert(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - the property raises when there is none


def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        time.sleep(0.02)


# -- Appendix В.1, end to end -------------------------------------------------------------
@screenshot_on_failure
def test_v1_bring_up_end_to_end(
    emulator: Emulator, crm: tuple[CountingCrm, Served], driver: WebDriver
) -> None:
    counting, served = crm
    crm_address = served.url.removeprefix("http://")

    # Log in.
    log_in(driver, emulator.url)
    assert by_id(driver, "client-id").text.strip() == CLIENT_ID

    # 3.1.1: the external address, the service on.
    address = by_id(driver, "external_address")
    address.clear()
    address.send_keys(crm_address)
    set_checkbox(by_id(driver, "enabled"), True)
    submit(driver, by_id(driver, "save"))
    assert not driver.find_elements(By.ID, "error"), by_id(driver, "error").text
    assert by_id(driver, "external_address").get_attribute("value") == crm_address
    assert by_id(driver, "enabled").is_selected()
    client = emulator.client()
    assert (client["external_address"], client["enabled"]) == (crm_address, True)

    # 3.2.1: SSL off.
    go(driver, "nav-debug", "Отладка взаимодействия")
    set_checkbox(by_id(driver, "ssl"), False)
    submit(driver, by_id(driver, "save-test-settings"))
    assert not by_id(driver, "ssl").is_selected()
    assert emulator.client()["ssl"] is False

    # 3.2.2: "Новый вызов"; the log shows the CRM's 200.
    result = send_test(driver)
    assert "200" in result, result
    assert counting.answered == 1
    rows = log_rows(driver)
    assert rows, "no log row after a test notification"
    assert rows[0].find_element(By.CSS_SELECTOR, ".log-status").text.strip() == "200"

    # 3.2.3: the filters.
    kept = filter_log(driver, "call_events", "to_crm")
    assert len(kept) == 1
    assert kept[0].find_element(By.CSS_SELECTOR, ".log-status").text.strip() == "200"
    assert filter_log(driver, "call_events", "from_crm") == []
    assert len(filter_log(driver, "all", "all")) == 1

    # 3.1.1: a new key, masked until revealed; the CRM is given it.
    go(driver, "nav-settings", "Настройка параметров")
    assert by_id(driver, "client-key").text.strip() == MASK
    assert CLIENT_KEY not in driver.page_source
    submit(driver, by_id(driver, "new-key"))
    new_key = emulator.client()["client_key"]
    assert new_key != CLIENT_KEY
    assert new_key not in driver.page_source  # still masked
    submit(driver, by_id(driver, "reveal-key"))
    assert by_id(driver, "client-key").text.strip() == new_key
    counting.crm = ReferenceCrm(CLIENT_ID, new_key)

    # The next test notification is signed with the new key.
    go(driver, "nav-debug", "Отладка взаимодействия")
    result = send_test(driver)
    assert "200" in result, result  # the CRM, holding the new key, accepted it
    assert counting.answered == 2
    sent = emulator.to_crm()[-1]
    expected = signing.sign(CLIENT_ID, sent["request_body"].encode(), new_key)
    assert sent["request_headers"][signing.SIGN_HEADER] == expected
    assert expected != signing.sign(CLIENT_ID, sent["request_body"].encode(), CLIENT_KEY)
    rows = log_rows(driver)
    assert len(rows) == 2
    submit(driver, rows[0].find_element(By.CSS_SELECTOR, ".log-open"))  # newest first
    request_shown = by_id(driver, "entry-request").text
    assert signing.SIGN_HEADER in request_shown
    assert expected in request_shown
    assert json.loads(sent["request_body"])["session_id"] in request_shown  # the body
    assert by_id(driver, "entry-response").text.strip()

    # 3.1.2: add an address, see it, delete it; empty admits all.
    go(driver, "nav-allow-list", "Белый список IP-адресов")
    assert by_id(driver, "allow-all").is_displayed()
    by_id(driver, "ip").send_keys("127.0.0.2")
    submit(driver, by_id(driver, "add-ip"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#allow-list .ip-row")
    assert [r.find_element(By.CSS_SELECTOR, ".ip").text.strip() for r in rows] == ["127.0.0.2"]
    assert not driver.find_elements(By.ID, "allow-all")
    assert emulator.admin("GET", f"/clients/{CLIENT_ID}/allow-list")
    submit(driver, rows[0].find_element(By.CSS_SELECTOR, ".delete-ip"))
    assert not driver.find_elements(By.CSS_SELECTOR, ".ip-row")
    assert by_id(driver, "allow-all").is_displayed()
    assert emulator.client()["allow_list"] == []

    # 3.1.3: call_events off; a call sends nothing.
    go(driver, "nav-methods", "Методы API")
    assert by_id(driver, "method-call_events")
    assert not driver.find_elements(By.CSS_SELECTOR, "#method-call_back input[type=checkbox]")
    assert not driver.find_elements(By.CSS_SELECTOR, "#method-get_record input[type=checkbox]")
    set_checkbox(by_id(driver, "call_events-enabled"), False)
    submit(driver, by_id(driver, "save-methods"))
    assert not by_id(driver, "call_events-enabled").is_selected()
    assert emulator.client()["notifications"]["call_events"] is False
    # Test notifications (3.2.2) go out whatever the switches (docs/PBX_EMULATOR.md P11):
    # what the switch stops is a call's notifications, so a call is placed.
    call = emulator.admin("POST", f"/clients/{CLIENT_ID}/calls", {"type": "incoming"})
    session = call["session_id"]

    def finished() -> bool:
        return bool(emulator.admin("GET", f"/clients/{CLIENT_ID}/calls/{session}")["finished"])

    until(finished, "the call finishes")
    played = emulator.admin("GET", f"/clients/{CLIENT_ID}/calls/{session}")
    assert played["notifications"]
    assert all("switched off" in (n["skipped"] or "") for n in played["notifications"])
    assert counting.answered == 2
    go(driver, "nav-debug", "Отладка взаимодействия")
    assert len(filter_log(driver, "call_events", "to_crm")) == 2  # nothing new went out


# -- escaping -----------------------------------------------------------------------------
HOSTILE = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;")


def answering(payload: str) -> Served:
    def handler(request: Request) -> Response:
        return Response(200, payload.encode(), [("Content-Type", "text/html; charset=utf-8")])

    return serve(handler, "127.0.0.1", 0)


@screenshot_on_failure
def test_hostile_answers_stay_inert(emulator: Emulator, driver: WebDriver) -> None:
    log_in(driver, emulator.url)
    servers = [answering(p) for p in HOSTILE]
    try:
        go(driver, "nav-debug", "Отладка взаимодействия")
        for served in servers:
            address = served.url.removeprefix("http://")
            emulator.admin("PATCH", f"/clients/{CLIENT_ID}", {"external_address": address})
            emulator.admin("PATCH", f"/clients/{CLIENT_ID}", {"ssl": False})
            result = send_test(driver)  # the page showing the result
            no_alert(driver)
            assert "200" in result, result
    finally:
        for served in servers:
            served.stop()

    driver.get(f"{emulator.url}/console/debug?client={CLIENT_ID}")
    no_alert(driver)
    assert not [p for p in HOSTILE if p in driver.page_source]  # never as markup
    rows = log_rows(driver)
    assert len(rows) == 2
    links = [str(r.find_element(By.CSS_SELECTOR, ".log-open").get_attribute("href")) for r in rows]
    # Newest first: the <img> answer, then the <script> one.
    for link, payload, escaped in zip(links, reversed(HOSTILE), reversed(ESCAPED), strict=True):
        driver.get(link)
        no_alert(driver)
        assert payload in by_id(driver, "entry-response").text  # shown as text
        source = driver.page_source
        assert escaped in source
        assert payload not in source
        assert not driver.find_elements(By.CSS_SELECTOR, "img[onerror], img[src=x]")
        scripts = driver.find_elements(By.TAG_NAME, "script")
        assert not [s for s in scripts if "alert" in (s.get_attribute("textContent") or "")]


# -- CSRF and the cookie ------------------------------------------------------------------
@screenshot_on_failure
def test_a_change_without_csrf_is_refused(emulator: Emulator, driver: WebDriver) -> None:
    log_in(driver, emulator.url)
    cookie = driver.get_cookie("vats_console")
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    session = {"Cookie": f"vats_console={cookie['value']}"}
    before = emulator.client()["external_address"]
    change = {"client": CLIENT_ID, "external_address": "evil.example:8080", "enabled": "on"}

    with httpx.Client(timeout=WAIT, follow_redirects=False) as http:
        for csrf in ({}, {"csrf": "wrong"}, {"csrf": ""}):
            refused = http.post(
                f"{emulator.url}/console/settings", data={**change, **csrf}, headers=session
            )
            assert refused.status_code == 403, (csrf, refused.status_code, refused.text[:500])
            assert 'id="csrf-error"' in refused.text
            assert emulator.client()["external_address"] == before
        # The same request with the page's token is accepted: the token was what was missing.
        token = by_id(driver, "settings-form").find_element(By.CSS_SELECTOR, "input[name=csrf]")
        accepted = http.post(
            f"{emulator.url}/console/settings",
            data={**change, "csrf": str(token.get_attribute("value"))},
            headers=session,
        )
        assert accepted.status_code == 303, accepted.text[:500]
    assert emulator.client()["external_address"] == "evil.example:8080"
