"""The emulator's web console (issue 11), over HTTP: sessions, CSRF, headers, escaping,
and that its forms change what the admin API reports (docs/PBX_EMULATOR.md,
"The web console"; D49). The browser walk of Appendix В.1 is another test's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from conformance.reference.pbx.app import Listening, Pbx
from conformance.reference.web import Request, Response
from tests.support import serving

TOKEN = "console-test-admin-token-0123456789"
CLIENT = "CONSOLECLIENT"
PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


@pytest.fixture(scope="module")
def emulator() -> Iterator[Pbx]:
    pbx = Pbx(admin_token=TOKEN)
    pbx.registry.create({"client_id": CLIENT})
    listening: Listening = pbx.start()
    try:
        yield pbx
    finally:
        listening.stop()


def _client(pbx: Pbx) -> httpx.Client:
    assert pbx.http_url is not None
    return httpx.Client(base_url=pbx.http_url, follow_redirects=False, trust_env=False)


def _login(pbx: Pbx) -> tuple[httpx.Client, str]:
    """A logged-in browser and its session's CSRF token."""
    http = _client(pbx)
    answer = http.post("/console/login", data={"token": TOKEN})
    assert answer.status_code == 303, answer.text
    page = http.get("/console/settings", params={"client": CLIENT})
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return http, found[1]


def _admin(pbx: Pbx, path: str) -> httpx.Response:
    with _client(pbx) as http:
        return http.get("/admin" + path, headers={"X-Admin-Token": TOKEN})


def test_login_sets_a_strict_http_only_cookie(emulator: Pbx) -> None:
    with _client(emulator) as http:
        answer = http.post("/console/login", data={"token": TOKEN})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/settings"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("vats_console=")
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= attributes
    assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    assert TOKEN not in cookie


def test_wrong_token_is_403_and_opens_no_session(emulator: Pbx) -> None:
    with _client(emulator) as http:
        answer = http.post("/console/login", data={"token": TOKEN + "x"})
        assert answer.status_code == 403
        assert 'id="login-error"' in answer.text
        assert "set-cookie" not in answer.headers
        assert http.get("/console/settings").status_code == 303


@pytest.mark.parametrize(
    "path", ["/console", "/console/settings", "/console/debug", "/console/debug/log/1"]
)
def test_without_a_session_pages_redirect_to_login(emulator: Pbx, path: str) -> None:
    with _client(emulator) as http:
        answer = http.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/login"
        http.cookies.set("vats_console", "forged")
        forged = http.get(path)
        assert forged.headers["location"] == "/console/login"
        posted = http.post("/console/settings", data={"external_address": "evil.example"})
        assert posted.headers["location"] == "/console/login"


def test_post_without_the_sessions_csrf_is_403_and_changes_nothing(emulator: Pbx) -> None:
    before = _admin(emulator, f"/clients/{CLIENT}").json()
    http, csrf = _login(emulator)
    other, other_csrf = _login(emulator)
    assert csrf != other_csrf
    form = {"client": CLIENT, "external_address": "evil.example:1", "enabled": "on"}
    with closing(http), closing(other):
        for data in (form, {**form, "csrf": ""}, {**form, "csrf": other_csrf}):
            answer = http.post("/console/settings", data=data)
            assert answer.status_code == 403
            assert 'id="csrf-error"' in answer.text
        answer = http.post("/console/settings/key", data={"client": CLIENT, "csrf": other_csrf})
        assert answer.status_code == 403
    assert _admin(emulator, f"/clients/{CLIENT}").json() == before


def test_the_settings_form_changes_the_admin_apis_client(emulator: Pbx) -> None:
    http, csrf = _login(emulator)
    with closing(http):
        answer = http.post(
            "/console/settings",
            data={"csrf": csrf, "client": CLIENT, "external_address": "crm.example:8090"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/console/settings?client={CLIENT}"
        client = _admin(emulator, f"/clients/{CLIENT}").json()
        assert client["external_address"] == "crm.example:8090"
        assert client["enabled"] is False
        page = http.get(answer.headers["location"])
        assert 'value="crm.example:8090"' in page.text
        assert client["client_key"] not in page.text  # masked until asked for

        # The admin API's refusal is shown, and nothing changes.
        http.post(
            "/console/settings",
            data={"csrf": csrf, "client": CLIENT, "external_address": "", "enabled": "on"},
        )
        assert 'id="error"' in http.get(f"/console/settings?client={CLIENT}").text
        assert _admin(emulator, f"/clients/{CLIENT}").json()["external_address"] == (
            "crm.example:8090"
        )

        http.post("/console/settings/reveal", data={"csrf": csrf, "client": CLIENT})
        assert client["client_key"] in http.get(f"/console/settings?client={CLIENT}").text
        assert client["client_key"] not in http.get(f"/console/settings?client={CLIENT}").text


def test_every_page_has_the_csp_and_no_script_and_no_token(emulator: Pbx) -> None:
    http, _ = _login(emulator)
    with closing(http):
        pages = [http.get("/console/login")]
        for name in ("settings", "allow-list", "methods", "debug", "emulator"):
            pages.append(http.get(f"/console/{name}", params={"client": CLIENT}))
    for page in pages:
        assert page.status_code == 200, page.url
        csp = page.headers["content-security-policy"]
        assert csp.startswith("default-src 'none'; style-src 'sha256-")
        assert "script-src" not in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text.lower()
        assert TOKEN not in page.text


def _hostile_crm(request: Request) -> Response:
    return Response(200, "\n".join(PAYLOADS).encode(), [("Content-Type", "text/html")])


def test_a_hostile_crm_answer_is_shown_as_text(emulator: Pbx) -> None:
    http, csrf = _login(emulator)
    with serving(_hostile_crm) as crm, closing(http):
        data = {"csrf": csrf, "client": CLIENT, "external_address": crm}
        assert http.post("/console/settings", data=data).status_code == 303
        sent = http.post(
            "/console/debug/test", data={"csrf": csrf, "client": CLIENT, "state": "new"}
        )
        assert sent.status_code == 303
        debug = http.get(sent.headers["location"])
        assert "ответ внешней системы: HTTP 200" in debug.text
        entry_link = re.search(r'class="log-open" href="([^"]+)"', debug.text)
        assert entry_link
        entry = http.get(entry_link[1].replace("&amp;", "&"))
    assert entry.status_code == 200
    assert 'id="entry-request"' in entry.text
    assert 'id="entry-response"' in entry.text
    assert '"call_events"' not in entry.text  # the JSON body's quotes are escaped too
    for page in (debug, entry):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert "<script" not in page.text.lower()
        assert "<img" not in page.text.lower()


def test_the_allow_list_and_the_log_filters(emulator: Pbx) -> None:
    http, csrf = _login(emulator)
    with closing(http):
        page = http.get("/console/allow-list", params={"client": CLIENT})
        assert 'id="allow-all"' in page.text
        http.post(
            "/console/allow-list/add", data={"csrf": csrf, "client": CLIENT, "ip": "192.0.2.7"}
        )
        assert _admin(emulator, f"/clients/{CLIENT}/allow-list").json()["allow_list"] == [
            "192.0.2.7"
        ]
        page = http.get("/console/allow-list", params={"client": CLIENT, "filter": "192.0"})
        assert '<td class="ip">192.0.2.7</td>' in page.text
        assert 'id="allow-all"' not in page.text
        data = {"csrf": csrf, "client": CLIENT, "ip": "192.0.2.7"}
        http.post("/console/allow-list/delete", data=data)
        assert _admin(emulator, f"/clients/{CLIENT}/allow-list").json()["allow_list"] == []

        for params, rows in (
            ({"method": "call_back", "direction": "all"}, False),
            ({"method": "all", "direction": "from_crm"}, False),
        ):
            page = http.get("/console/debug", params={"client": CLIENT, **params})
            assert page.status_code == 200
            assert ('class="log-row"' in page.text) is rows

        http.post("/console/methods", data={"csrf": csrf, "client": CLIENT})
        methods = _admin(emulator, f"/clients/{CLIENT}/methods").json()["methods"]
        assert methods["call_events"]["enabled"] is False
        http.post("/console/methods", data={"csrf": csrf, "client": CLIENT, "call_events": "on"})
        methods = _admin(emulator, f"/clients/{CLIENT}/methods").json()["methods"]
        assert methods["call_events"]["enabled"] is True


def test_logout_ends_the_session(emulator: Pbx) -> None:
    http, csrf = _login(emulator)
    with closing(http):
        assert http.post("/console/logout", data={"csrf": csrf}).status_code == 303
        assert http.get("/console/settings").headers["location"] == "/console/login"


def test_the_certificate_upload_and_download(emulator: Pbx) -> None:
    http, csrf = _login(emulator)
    pem = emulator.identity().certificate_pem
    with closing(http):
        downloaded = http.get("/console/certificate")
        assert downloaded.status_code == 200
        assert downloaded.text == pem
        sent = http.post(
            "/console/settings/certificate",
            data={"csrf": csrf, "client": CLIENT},
            files={"certificate": ("crm.pem", pem.encode(), "application/x-pem-file")},
        )
        assert sent.status_code == 303
        assert _admin(emulator, f"/clients/{CLIENT}").json()["external_certificate"] is True
        page = http.get(sent.headers["location"])
        assert "Сертификат загружен." in page.text
        too_large = http.post(
            "/console/settings/certificate",
            data={"csrf": csrf, "client": CLIENT},
            files={"certificate": ("big.pem", b"x" * (65 * 1024))},
        )
        assert too_large.status_code == 413


def test_the_debug_address_is_the_apis(emulator: Pbx) -> None:
    """3.2.1: «Адрес для отправки» is the Integration API's address for debugging (where
    the CRM sends its test requests), not the external system's."""
    http, _ = _login(emulator)
    page = http.get("/console/debug", params={"client": CLIENT}).text
    http.close()
    shown = re.search(r'id="test-address">([^<]*)<', page)
    assert shown, page
    assert shown[1] == emulator.http_url


def test_a_form_without_a_client_or_with_odd_digits_is_a_plain_refusal(emulator: Pbx) -> None:
    """No admin API path leaks into a page, and a digit outside 0-9 is no number."""
    http, csrf = _login(emulator)
    clientless = http.post("/console/debug/test", data={"csrf": csrf})
    assert clientless.status_code == 400, clientless.text
    assert "/admin" not in clientless.text
    assert "Content-Security-Policy" in clientless.headers
    odd = http.post("/console/emulator/scenario", data={"csrf": csrf, "ring_ms": "²"})
    assert odd.status_code == 303
    page = http.get("/console/emulator").text
    http.close()
    assert "invalid literal" not in page
    assert "whole milliseconds" in page
