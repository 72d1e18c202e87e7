# Over 400 lines: one test per answer reading, per admin setting and per way of adopting a call.
"""The emulator's answer styles (answers.Style): the guide's tables, what production is
reported to answer, and each field alone; per client (admin API, CLI), per request
(``Pbx.route``), in the log; calls placed elsewhere (``Pbx.adopt_call``); and the
emulator served in-process without ``Pbx.start``, as the suite's crm-client role runs it.

Most requests go straight to ``Pbx.route`` (a handler is a plain function); the
in-process tests serve it on loopback. Every wait is bounded.
"""

from __future__ import annotations

import io
import json
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from conformance.reference import process
from conformance.reference.pbx import Pbx, calls
from conformance.reference.pbx.answers import GUIDE, PRODUCTION, SUCCESS, Style
from conformance.reference.pbx.plans import Scenario
from conformance.reference.pbx.state import NotFound
from conformance.reference.server import serve
from conformance.reference.web import Headers, Request, Response
from conformance.spec import signing
from tests.support import CLIENT_ID, CLIENT_KEY

TOKEN = "admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
BASE = "http://127.0.0.1:8090"
CALL_BACK = b'{"request_number": "+74951234567", "from_pin": "101"}'
WAIT = 10.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def doc(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


def request(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    signed: bool = True,
    headers: dict[str, str] | None = None,
) -> Request:
    """A request as the server hands it to the handler."""
    sent = dict(signing.signed_headers(CLIENT_ID, body, CLIENT_KEY)) if signed else {}
    sent.update(headers or {})
    if body:
        sent["Content-Type"] = "application/json"
    bare, _, query = path.partition("?")
    return Request(
        method=method,
        path=bare,
        query=query.encode(),
        headers=Headers(sent.items()),
        body=body,
        complete=True,
        remote="127.0.0.1",
        base_url=BASE,
        target=path,
    )


def answered(response: Response) -> Answer:
    return Answer(response.status, dict(response.headers), response.body)


@dataclass
class Emulator:
    pbx: Pbx

    def ask(self, req: Request, style: Style | None = None) -> Answer:
        return answered(self.pbx.route(req, style))

    def call_back(self, style: Style | None = None) -> Answer:
        return self.ask(request("POST", "/call_back", CALL_BACK), style)

    def get_record(self, session_id: str, style: Style | None = None) -> Answer:
        body = json.dumps({"session_id": session_id}).encode()
        return self.ask(request("POST", "/get_record", body), style)

    def link(self, session_id: str) -> str:
        """A fresh link to a recorded, finished call's recording (its path)."""
        answer = self.get_record(session_id, GUIDE)
        assert answer.status == 200, answer.body
        url: str = answer.doc["url"]
        assert url.startswith(BASE + "/records/")
        return url[len(BASE) :]

    def admin(self, verb: str, path: str, doc: Any = None) -> Answer:
        body = b"" if doc is None else json.dumps(doc).encode()
        return self.ask(request(verb, f"/admin{path}", body, signed=False, headers=ADMIN))

    def configure(self, **changes: Any) -> dict[str, Any]:
        answer = self.admin("PATCH", f"/clients/{CLIENT_ID}", changes)
        assert answer.status == 200, answer.body
        return answer.doc

    def recorded_call(self) -> str:
        """A finished, recorded call (adopted: nothing is played)."""
        self.pbx.adopt_call(CLIENT_ID, "recorded-call", finished=True, recorded=True)
        return "recorded-call"


def new_pbx() -> Pbx:
    """The emulator as the suite's crm-client role makes it: one client, no limits,
    call_events off, never started."""
    pbx = Pbx(admin_token=TOKEN, scenario=Scenario(ring_ms=0, announcement_ms=0, talk_ms=0))
    pbx.registry.create(
        {
            "client_id": CLIENT_ID,
            "client_key": CLIENT_KEY,
            "external_address": "127.0.0.1:9",
            "enabled": True,
            "notifications": {"call_events": False},
            "limits": {"call_back": None, "get_record": None},
        }
    )
    return pbx


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    pbx = new_pbx()
    yield Emulator(pbx)
    pbx.engine.shutdown()


def is_wav(body: bytes) -> bool:
    with wave.open(io.BytesIO(body)) as wav:
        return wav.getframerate() == 8000


# -- the styles ---------------------------------------------------------------
def test_the_presets_and_their_descriptions() -> None:
    assert Style() == GUIDE
    assert PRODUCTION.to_json() == {
        "result_type": "string",
        "errors_as_200": True,
        "success_result": 0,
        "links_accept_post": True,
        "success_message": "ok",
    }
    assert PRODUCTION.describe() == (
        "errors as HTTP 200 with result > 0; result as a string; recording links also answer "
        "POST; success message 'ok'"
    )
    assert "guide" in GUIDE.describe()
    assert (GUIDE.preset(), PRODUCTION.preset(), Style(success_result=1).preset()) == (
        "guide",
        "production",
        None,
    )
    for style in (GUIDE, PRODUCTION, Style(success_result=1, result_type="string")):
        assert GUIDE.updated(style.to_json()) == style


def test_the_guide_is_the_default(emulator: Emulator) -> None:
    refused = emulator.get_record("no-such-session")
    assert (refused.status, refused.doc["result"]) == (404, 31)
    done = emulator.call_back()
    assert (done.status, done.doc["result"]) == (200, 0)
    assert emulator.ask(request("POST", emulator.link(emulator.recorded_call()))).status == 405


def test_errors_as_200_changes_only_the_status(emulator: Emulator) -> None:
    guide = emulator.get_record("no-such-session")
    emulator.configure(errors_as_200=True)
    refused = emulator.get_record("no-such-session")
    assert refused.status == 200
    assert refused.doc == guide.doc  # the same result (31, a number) and message
    by_get = emulator.ask(request("GET", "/call_back"))
    assert (by_get.status, by_get.doc["result"], by_get.headers["Allow"]) == (200, 2, "POST")
    bad_sign = emulator.ask(
        request("POST", "/call_back", CALL_BACK, headers={"X-Client-Sign": "0"})
    )
    assert (bad_sign.status, bad_sign.doc["result"]) == (200, 14)
    assert "session_id" not in bad_sign.doc
    assert emulator.ask(request("POST", "/nothing")).doc["result"] == 1
    done = emulator.call_back()
    assert (done.status, done.doc["result"]) == (200, 0)
    # A recording link's answers keep their status: a download is judged by it.
    assert emulator.ask(request("GET", "/records/unknown-token")).status == 404
    assert emulator.ask(request("POST", emulator.link(emulator.recorded_call()))).status == 405


def test_result_as_a_string_changes_only_the_result(emulator: Emulator) -> None:
    emulator.configure(result_type="string")
    done = emulator.call_back()
    assert (done.status, done.doc["result"], done.doc["resultMessage"]) == (200, "0", SUCCESS)
    refused = emulator.get_record("no-such-session")
    assert (refused.status, refused.doc["result"]) == (404, "31")


def test_success_message_changes_only_successes(emulator: Emulator) -> None:
    emulator.configure(success_message="ok")
    done = emulator.call_back()
    assert (done.status, done.doc["result"], done.doc["resultMessage"]) == (200, 0, "ok")
    assert emulator.get_record(emulator.recorded_call()).doc["resultMessage"] == "ok"
    refused = emulator.get_record("no-such-session")
    assert refused.doc["resultMessage"] != "ok"


def test_success_result_1_is_call_backs_only(emulator: Emulator) -> None:
    emulator.configure(success_result=1)
    done = emulator.call_back()
    assert (done.status, done.doc["result"], done.doc["resultMessage"]) == (200, 1, SUCCESS)
    assert done.doc["session_id"]
    record = emulator.get_record(emulator.recorded_call())
    assert (record.status, record.doc["result"]) == (200, 0)
    assert emulator.get_record("no-such-session").doc["result"] == 31
    emulator.configure(result_type="string")
    assert emulator.call_back().doc["result"] == "1"  # E1 and E2 together: the А.3 example


def test_links_answer_post_only_when_the_style_says(emulator: Emulator) -> None:
    session_id = emulator.recorded_call()
    path = emulator.link(session_id)
    refused = emulator.ask(request("POST", path, b'{"session_id": "recorded-call"}'))
    assert (refused.status, refused.headers["Allow"], refused.doc["result"]) == (405, "GET", 2)
    assert is_wav(emulator.ask(request("GET", path), GUIDE).body)  # a refused POST used nothing

    emulator.configure(links_accept_post=True)
    path = emulator.link(session_id)
    # As a client that POSTs its signed get_record body to the link.
    posted = emulator.ask(request("POST", path, b'{"session_id": "recorded-call"}'))
    assert (posted.status, posted.headers["Content-Type"]) == (200, "audio/wav")
    assert is_wav(posted.body)
    assert emulator.ask(request("GET", path)).status == 410  # still single-use
    assert emulator.ask(request("PUT", emulator.link(session_id))).headers["Allow"] == "GET, POST"


def test_a_link_answers_in_the_style_of_the_client_it_was_issued_to(emulator: Emulator) -> None:
    emulator.configure(answer_as="production")
    path = emulator.link(emulator.recorded_call())
    anonymous = emulator.ask(request("POST", path, signed=False))  # no X-Client-ID at all
    assert anonymous.status == 200
    assert is_wav(anonymous.body)


# -- per request ---------------------------------------------------------------
def test_the_route_override_beats_the_clients_style(emulator: Emulator) -> None:
    emulator.configure(answer_as="production")
    assert emulator.get_record("no-such-session").status == 200
    guide = emulator.get_record("no-such-session", GUIDE)
    assert (guide.status, guide.doc["result"]) == (404, 31)
    assert emulator.call_back(GUIDE).doc["result"] == 0
    assert emulator.call_back(Style(success_result=1)).doc["result"] == 1
    path = emulator.link(emulator.recorded_call())
    assert emulator.ask(request("POST", path), GUIDE).status == 405


def test_the_override_applies_before_the_client_is_known(emulator: Emulator) -> None:
    nobody = request("POST", "/get_record", b'{"session_id": "x"}', signed=False)
    plain = emulator.ask(nobody)
    assert (plain.status, plain.doc["result"]) == (403, 10)  # no client, no override: the guide
    styled = emulator.ask(nobody, PRODUCTION)
    assert (styled.status, styled.doc["result"]) == (200, "10")
    stranger = request("POST", "/call_back", CALL_BACK, headers={"X-Client-ID": "nobody"})
    assert emulator.ask(stranger, PRODUCTION).doc["result"] == "11"
    assert emulator.ask(request("GET", "/nothing", signed=False), PRODUCTION).status == 200


def test_a_client_without_a_style_follows_the_emulator_wide_setting(emulator: Emulator) -> None:
    assert emulator.admin("PATCH", "/settings", {"result_type": "string"}).status == 200
    client = emulator.admin("GET", f"/clients/{CLIENT_ID}").doc
    assert client["style"] == {**GUIDE.to_json(), "result_type": "string"}
    assert client["answer_as"] is None
    assert emulator.call_back().doc["result"] == "0"
    no_client = emulator.ask(request("POST", "/get_record", b"{}", signed=False))
    assert no_client.doc["result"] == "10"
    emulator.configure(errors_as_200=True)  # from the default at the time, then its own
    assert emulator.admin("PATCH", "/settings", {"result_type": "number"}).status == 200
    assert emulator.get_record("no-such-session").doc["result"] == "31"


# -- the log (3.2.3) -----------------------------------------------------------
def test_the_log_records_how_each_request_was_answered(emulator: Emulator) -> None:
    emulator.configure(answer_as="production")
    emulator.get_record("no-such-session")
    emulator.get_record("no-such-session", GUIDE)
    emulator.ask(request("POST", "/call_back", CALL_BACK, signed=False), Style(success_result=1))
    entries = emulator.admin("GET", "/log?direction=from_crm").doc["entries"]
    assert [e["answered_as"] for e in entries] == [
        PRODUCTION.to_json(),
        GUIDE.to_json(),
        Style(success_result=1).to_json(),
    ]
    assert [e["status"] for e in entries] == [200, 404, 403]  # the status that was sent
    assert json.loads(entries[0]["response_body"])["result"] == "31"


# -- the admin API ---------------------------------------------------------------
def test_answer_as_sets_all_four_and_fields_refine_it(emulator: Emulator) -> None:
    client = emulator.configure(answer_as="production")
    assert (client["style"], client["answer_as"]) == (PRODUCTION.to_json(), "production")
    client = emulator.configure(answer_as="guide", success_result=1)
    assert client["style"] == Style(success_result=1).to_json()
    assert client["answer_as"] is None
    assert emulator.configure(success_result=0)["answer_as"] == "guide"
    created = emulator.admin("POST", "/clients", {"answer_as": "production"})
    assert (created.status, created.doc["answer_as"]) == (201, "production")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"answer_as": "staging"}, "answer_as: expected 'guide' or 'production'"),
        ({"answer_as": None}, "answer_as: expected"),
        ({"result_type": "text"}, "result_type: expected 'number' (Table А.3) or 'string'"),
        ({"errors_as_200": "yes"}, "errors_as_200: expected true or false"),
        ({"links_accept_post": 1}, "links_accept_post: expected true or false"),
        ({"success_result": 2}, "success_result: expected 0 (Table А.3) or 1"),
        ({"success_result": True}, "success_result: expected"),
        ({"success_result": 1.0}, "success_result: expected"),
        ({"style": "production"}, "unknown setting 'style'"),
    ],
)
def test_bad_style_settings_change_nothing(
    emulator: Emulator, changes: dict[str, Any], message: str
) -> None:
    emulator.configure(success_result=1)
    before = emulator.admin("GET", f"/clients/{CLIENT_ID}").doc
    answer = emulator.admin(
        "PATCH", f"/clients/{CLIENT_ID}", {"timeout": 3, "errors_as_200": True, **changes}
    )
    assert answer.status == 400
    assert message in answer.doc["error"]
    assert emulator.admin("GET", f"/clients/{CLIENT_ID}").doc == before


# -- calls placed elsewhere ---------------------------------------------------------
def test_an_adopted_call_is_answered_as_the_emulators_own(emulator: Emulator) -> None:
    pbx = emulator.pbx
    pbx.adopt_call(CLIENT_ID, "s-unready", finished=False, recorded=True)
    pbx.adopt_call(CLIENT_ID, "s-unrecorded", finished=True, recorded=False)
    emulator.recorded_call()
    unready = emulator.get_record("s-unready")
    assert (unready.status, unready.doc["result"]) == (409, 32)
    unrecorded = emulator.get_record("s-unrecorded")
    assert (unrecorded.status, unrecorded.doc["result"]) == (404, 33)
    assert is_wav(emulator.ask(request("GET", emulator.link("recorded-call"))).body)
    pbx.adopt_call(CLIENT_ID, "s-unready", finished=True, recorded=True)  # it has ended now
    assert emulator.get_record("s-unready").doc["result"] == 0
    assert emulator.get_record("s-unready", PRODUCTION).doc["result"] == "0"
    assert not pbx.log.query(direction="to_crm")  # nothing was sent
    shown = emulator.admin("GET", f"/clients/{CLIENT_ID}/calls/s-unready").doc
    assert (shown["adopted"], shown["finished"], shown["notifications"]) == (True, True, [])


def test_adopting_refuses_what_it_cannot_know(emulator: Emulator) -> None:
    with pytest.raises(NotFound):
        emulator.pbx.adopt_call("nobody", "s", finished=True, recorded=True)
    with pytest.raises(ValueError, match="non-empty"):
        emulator.pbx.adopt_call(CLIENT_ID, "", finished=True, recorded=True)
    own = emulator.call_back().doc["session_id"]
    with pytest.raises(ValueError, match="the emulator placed"):
        emulator.pbx.adopt_call(CLIENT_ID, own, finished=True, recorded=True)


def test_adopted_calls_are_bounded(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "MAX_KEPT", 5)
    for n in range(20):  # never finished: they must not hold the bound open
        emulator.pbx.adopt_call(CLIENT_ID, f"s-{n}", finished=False, recorded=True)
    kept = [c.session_id for c in emulator.pbx.engine.of_client(CLIENT_ID)]
    assert kept == [f"s-{n}" for n in range(15, 20)]


# -- in-process, as the suite serves it --------------------------------------------
def test_served_in_process_without_start_sends_nothing() -> None:
    pbx = new_pbx()
    served = serve(pbx, offload=pbx.may_wait)
    production = serve(lambda r: pbx.route(r, PRODUCTION))  # a wrapper choosing the style
    try:
        with httpx.Client(timeout=WAIT) as http:
            headers = signing.signed_headers(CLIENT_ID, CALL_BACK, CLIENT_KEY)
            done = http.post(f"{served.url}/call_back", content=CALL_BACK, headers=headers)
            assert done.status_code == 200, done.text
            session_id = done.json()["session_id"]
            call = pbx.engine.get(session_id)
            assert call is not None
            assert call.finished  # nothing to send: played at once
            assert call.notifications
            assert all("switched off" in (n["skipped"] or "") for n in call.notifications)
            assert not pbx.log.query(direction="to_crm")
            body = json.dumps({"session_id": session_id}).encode()
            headers = signing.signed_headers(CLIENT_ID, body, CLIENT_KEY)
            link = http.post(f"{served.url}/get_record", content=body, headers=headers).json()
            assert link["url"].startswith(served.url + "/records/")
            assert is_wav(http.get(link["url"]).content)
            body = b'{"session_id": "00000000-0000-0000-0000-000000000000"}'
            headers = signing.signed_headers(CLIENT_ID, body, CLIENT_KEY)
            refused = http.post(f"{production.url}/get_record", content=body, headers=headers)
            assert (refused.status_code, refused.json()["result"]) == (200, "31")
        assert (pbx.http_url, pbx.https_url) == (None, None)
    finally:
        production.stop()
        served.stop()
        pbx.engine.shutdown()


# -- the command line -----------------------------------------------------------------
def test_cli_answer_as_production() -> None:
    env = {"VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": CLIENT_KEY, "VATS_ADMIN_TOKEN": TOKEN}
    child = process.start(
        "conformance.reference.pbx", ["--port", "0", "--answer-as", "production"], env
    )
    try:
        with httpx.Client(timeout=WAIT) as http:
            client = http.get(f"{child.url}/admin/clients/{CLIENT_ID}", headers=ADMIN).json()
    finally:
        child.stop()
    assert (client["answer_as"], client["style"]) == ("production", PRODUCTION.to_json())


def test_the_recording_is_ready_while_disconnected_is_delivered() -> None:
    """A CRM that asks get_record from inside its handler of ``disconnected`` (as
    salesplatform-vtigercrm does) gets the link: the call has ended when the PBX says
    so, not once the CRM has answered."""
    pbx = Pbx(admin_token=TOKEN, scenario=Scenario(ring_ms=0, announcement_ms=0, talk_ms=0))
    asked: list[int] = []

    def crm(req: Request) -> Response:
        note = json.loads(req.body)
        if note.get("state") == "disconnected":
            body = json.dumps({"session_id": note["session_id"]}).encode()
            answer = pbx.route(request("POST", "/get_record", body))
            asked.append(answer.status)
        return Response(200, b"{}", [("Content-Type", "application/json")])

    served = serve(crm, "127.0.0.1", 0)
    try:
        pbx.registry.create(
            {
                "client_id": CLIENT_ID,
                "client_key": CLIENT_KEY,
                "external_address": served.url.removeprefix("http://"),
                "enabled": True,
            }
        )
        assert pbx.route(request("POST", "/call_back", CALL_BACK)).status == 200
        deadline = time.monotonic() + WAIT
        while not asked and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        pbx.engine.shutdown()
        served.stop()
    assert asked == [200]


@pytest.mark.parametrize(
    "signed",
    [
        b"session_id=recorded-call",
        b'{"session_id": "recorded-call"}',
        b'{"session_id":"recorded-call"}',
    ],
)
def test_a_get_record_by_get_is_signed_over_its_query_or_its_json(
    emulator: Emulator, signed: bytes
) -> None:
    """E5: a GET has no JSON body; its raw query (D21) or its parameters as JSON are both
    "client_id + json + key" readings, and each binds the session. Nothing else is."""
    emulator.recorded_call()
    headers = {signing.SIGN_HEADER: signing.sign(CLIENT_ID, signed, CLIENT_KEY)}
    asked = emulator.ask(request("GET", "/get_record?session_id=recorded-call", headers=headers))
    assert asked.status == 200, asked.body


def test_a_get_record_by_get_signed_over_nothing_is_refused(emulator: Emulator) -> None:
    emulator.recorded_call()
    headers = {signing.SIGN_HEADER: signing.sign(CLIENT_ID, b"", CLIENT_KEY)}
    asked = emulator.ask(request("GET", "/get_record?session_id=recorded-call", headers=headers))
    assert (asked.status, asked.doc["result"]) == (403, 14)
