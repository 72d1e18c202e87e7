# Over 400 lines: one test per documented behaviour of the emulator (docs/PBX_EMULATOR.md).
"""The reference PBX emulator (conformance/reference/pbx), over loopback only.

An external system (``Receiver``) is served on 127.0.0.1 and records every
notification byte for byte; the emulator runs in this process. Every wait is
bounded; nothing asserts how long anything took.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.reference import process
from conformance.reference.pbx import Pbx, tls
from conformance.reference.pbx.plans import Scenario
from conformance.reference.server import serve
from conformance.reference.web import Headers, Request, Response
from conformance.spec import examples, lifecycle, schemas, signing
from tests.support import CLIENT_ID, CLIENT_KEY, ROOT

TOKEN = "admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
VECTOR_BODY = b'{"request_number": "+74951234567","from_sipuri": "test_user@cloudpbx.rt.ru"}'
WAIT = 10.0  # the longest any single wait may take


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@dataclass
class Received:
    path: str
    headers: Headers
    body: bytes

    @property
    def doc(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """The external system: records notifications, answers 200 (after ``delay`` s)."""

    delay: float = 0.0
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.got.append(Received(request.path, request.headers, request.body))
        return Response(200, b"{}", [("Content-Type", "application/json")])

    def of(self, session_id: str) -> list[Received]:
        with self.lock:
            return [r for r in self.got if r.doc.get("session_id") == session_id]

    def wait_call(self, session_id: str, count: int) -> list[Received]:
        assert wait_until(lambda: len(self.of(session_id)) >= count), self.of(session_id)
        return self.of(session_id)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    served = serve(app)
    yield app, served.url
    served.stop()


@dataclass
class Emulator:
    pbx: Pbx
    http: httpx.Client

    @property
    def url(self) -> str:
        assert self.pbx.http_url
        return self.pbx.http_url

    def call(
        self,
        method: str,
        body: bytes,
        *,
        client_id: str = CLIENT_ID,
        key: str = CLIENT_KEY,
        base: str | None = None,
        verify: Any = True,
    ) -> httpx.Response:
        headers = signing.signed_headers(client_id, body, key)
        url = f"{base or self.url}/{method}"
        if verify is True:
            return self.http.post(url, content=body, headers=headers)
        with httpx.Client(verify=verify, timeout=WAIT) as secure:
            return secure.post(url, content=body, headers=headers)

    def call_back(self, doc: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.call("call_back", json.dumps(doc).encode(), **kw)

    def get_record(self, session_id: str) -> httpx.Response:
        return self.call("get_record", json.dumps({"session_id": session_id}).encode())

    def admin(self, verb: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(verb, f"{self.url}/admin{path}", headers=ADMIN, **kw)

    def configure(self, **changes: Any) -> dict[str, Any]:
        answer = self.admin("PATCH", f"/clients/{CLIENT_ID}", json=changes)
        assert answer.status_code == 200, answer.text
        doc: dict[str, Any] = answer.json()
        return doc

    def finished(self, session_id: str) -> dict[str, Any]:
        def done() -> bool:
            return bool(
                self.admin("GET", f"/clients/{CLIENT_ID}/calls/{session_id}").json()["finished"]
            )

        assert wait_until(done)
        doc: dict[str, Any] = self.admin("GET", f"/clients/{CLIENT_ID}/calls/{session_id}").json()
        return doc


@pytest.fixture
def emulator(receiver: tuple[Receiver, str]) -> Iterator[Emulator]:
    pbx = Pbx(admin_token=TOKEN, scenario=Scenario(ring_ms=5, announcement_ms=5, talk_ms=5))
    listening = pbx.start()
    pbx.registry.create(
        {
            "client_id": CLIENT_ID,
            "client_key": CLIENT_KEY,
            "external_address": receiver[1],
            "enabled": True,
            "timeout": 2,
        }
    )
    with httpx.Client(timeout=WAIT) as http:
        yield Emulator(pbx, http)
    listening.stop()


def started(emulator: Emulator, doc: dict[str, Any] | None = None) -> str:
    answer = emulator.call_back(doc or {"request_number": "+74951234567", "from_pin": "101"})
    assert answer.status_code == 200, answer.text
    session_id: str = answer.json()["session_id"]
    return session_id


def check_notification(note: Received) -> dict[str, Any]:
    """Signed over the exact bytes with the client's key, and exactly А.2's fields."""
    assert note.path == "/call_events"
    assert note.headers.get("X-Client-ID") == CLIENT_ID
    assert signing.verify(CLIENT_ID, note.body, CLIENT_KEY, note.headers.get("X-Client-Sign"))
    doc = note.doc
    assert schemas.validator("call_events", "guide", canonical=True).is_valid(doc), doc
    for name in doc:
        assert lifecycle.carries(name, doc["state"], doc["type"]), (name, doc)
    return doc


# -- call_back (А.3) --------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [VECTOR_BODY, examples.raw("call_back.request")],
    ids=["1.4.2-vector", "A.3-example"],
)
def test_the_guides_requests_are_accepted(emulator: Emulator, body: bytes) -> None:
    answer = emulator.call("call_back", body)
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["result"] == 0
    assert doc["resultMessage"] == "Операция выполнена успешно"
    assert isinstance(doc["session_id"], str)
    assert doc["session_id"]
    assert schemas.is_valid("call_back.response", doc)


def test_the_vector_signature_is_the_guides(emulator: Emulator) -> None:
    expected = "fc95a524342dc68df90f7488e6d821c5a8a3b667d585490b50ebf939f1202c36"
    headers = {"X-Client-ID": CLIENT_ID, "X-Client-Sign": expected}
    answer = emulator.http.post(f"{emulator.url}/call_back", content=VECTOR_BODY, headers=headers)
    assert answer.json()["result"] == 0


E164 = "+74951234567"
REFUSALS: list[tuple[str, dict[str, Any] | bytes, dict[str, str], int, int]] = [
    ("unknown-client", {"request_number": E164, "from_pin": "101"}, {"id": "F" * 32}, 403, 11),
    ("no-client-id", {"request_number": E164, "from_pin": "101"}, {"id": ""}, 403, 10),
    ("bad-signature", {"request_number": E164, "from_pin": "101"}, {"sign": "0" * 64}, 403, 14),
    ("wrong-key", {"request_number": E164, "from_pin": "101"}, {"key": "WRONG"}, 403, 14),
    ("no-request-number", {"from_pin": "101"}, {}, 400, 22),
    ("request-number-not-e164", {"request_number": "84951234567", "from_pin": "101"}, {}, 400, 22),
    ("request-number-a-number", {"request_number": 74951234567, "from_pin": "101"}, {}, 400, 22),
    ("no-from", {"request_number": E164}, {}, 400, 23),
    ("empty-from", {"request_number": E164, "from_sipuri": "", "from_pin": None}, {}, 400, 23),
    ("bad-from-sipuri", {"request_number": E164, "from_sipuri": "not a uri"}, {}, 400, 24),
    ("bad-from-pin", {"request_number": E164, "from_pin": "12ab"}, {}, 400, 25),
    ("unknown-pin", {"request_number": E164, "from_pin": "999"}, {}, 404, 26),
    ("not-json", b"{nope", {}, 400, 20),
    ("not-an-object", b"[1, 2]", {}, 400, 21),
    ("not-utf8", b'{"request_number": "\xff"}', {}, 400, 20),
]


@pytest.mark.parametrize(
    ("doc", "tweak", "status", "result"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_bad_call_back_gets_its_own_result(
    emulator: Emulator,
    receiver: tuple[Receiver, str],
    doc: dict[str, Any] | bytes,
    tweak: dict[str, str],
    status: int,
    result: int,
) -> None:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    client_id = tweak.get("id", CLIENT_ID)
    headers = signing.signed_headers(client_id, body, tweak.get("key", CLIENT_KEY))
    if "sign" in tweak:
        headers["X-Client-Sign"] = tweak["sign"]
    if not client_id:
        del headers["X-Client-ID"]
    answer = emulator.http.post(f"{emulator.url}/call_back", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    doc_out = answer.json()
    assert doc_out["result"] == result, doc_out
    assert doc_out["resultMessage"]
    assert "session_id" not in doc_out
    assert schemas.is_valid("call_back.response", doc_out)
    assert emulator.pbx.engine.idle()
    assert receiver[0].got == []


def test_call_back_by_get_is_refused(emulator: Emulator) -> None:
    answer = emulator.http.get(f"{emulator.url}/call_back")
    assert answer.status_code == 405
    assert answer.json()["result"] == 2
    assert answer.headers["Allow"] == "POST"


def test_unknown_path_and_never_a_5xx(emulator: Emulator) -> None:
    junk = [
        ("GET", "/"),
        ("POST", "/call_events"),
        ("DELETE", "/get_record"),
        ("PUT", "/records/x/y"),
        ("POST", "/records/abc"),
        ("GET", "/admin/../call_back"),
        ("POST", "/call_back?x=1"),
        ("POST", "/get_record"),
    ]
    for verb, path in junk:
        answer = emulator.http.request(verb, emulator.url + path, content=b"\x00garbage")
        assert 400 <= answer.status_code < 500, (verb, path, answer.status_code)
        assert answer.json()["result"] > 0


def test_oversized_body_is_refused(emulator: Emulator) -> None:
    answer = emulator.call("call_back", b" " * (65 * 1024))
    assert answer.status_code == 413
    assert answer.json()["result"] == 3


def test_from_sipuri_wins_over_from_pin(emulator: Emulator, receiver: tuple[Receiver, str]) -> None:
    session_id = started(
        emulator, {"request_number": E164, "from_sipuri": "someone@pbx.example", "from_pin": "102"}
    )
    new = check_notification(receiver[0].wait_call(session_id, 1)[0])
    assert new["from_number"] == "someone@pbx.example"
    assert "from_pin" not in new  # not a user of the directory


def test_from_pin_alone_names_a_user_of_the_domain(
    emulator: Emulator, receiver: tuple[Receiver, str]
) -> None:
    session_id = started(emulator, {"request_number": E164, "from_pin": "102"})
    new = check_notification(receiver[0].wait_call(session_id, 1)[0])
    assert new["from_number"] == "user102@cloudpbx.rt.ru"
    assert new["from_pin"] == 102


def test_result_as_a_string_when_asked(emulator: Emulator) -> None:
    assert emulator.admin("PATCH", "/settings", json={"result_type": "string"}).status_code == 200
    doc = emulator.call("call_back", VECTOR_BODY).json()
    assert doc["result"] == "0"
    assert schemas.is_valid("call_back.response", doc)


# -- the scenario and its notifications (А.2, А.3) --------------------------
def test_call_back_plays_the_whole_scenario(
    emulator: Emulator, receiver: tuple[Receiver, str]
) -> None:
    session_id = emulator.call("call_back", VECTOR_BODY).json()["session_id"]
    notes = [check_notification(n) for n in receiver[0].wait_call(session_id, 3)]
    assert [n["state"] for n in notes] == ["new", "connected", "disconnected"]
    assert lifecycle.is_legal([n["state"] for n in notes])
    assert {n["session_id"] for n in notes} == {session_id}
    assert {n["type"] for n in notes} == {"outbound"}
    assert {n["from_number"] for n in notes} == {"test_user@cloudpbx.rt.ru"}
    assert {n["from_pin"] for n in notes} == {101}
    assert {n["request_number"] for n in notes} == {"+74951234567"}
    assert notes[-1]["is_record"] is True
    assert notes[-1]["disconnect_reason"]
    assert emulator.finished(session_id)["recorded"] is True


@pytest.mark.parametrize(
    "outcome", ["user_rejects", "user_hangs_up", "callee_busy", "callee_no_answer"]
)
def test_call_back_that_never_connects(
    emulator: Emulator, receiver: tuple[Receiver, str], outcome: str
) -> None:
    assert emulator.admin("PATCH", "/scenario", json={"call_back_outcome": outcome}).is_success
    session_id = started(emulator)
    emulator.finished(session_id)
    notes = [check_notification(n) for n in receiver[0].of(session_id)]
    assert [n["state"] for n in notes] == ["new", "disconnected"]
    assert notes[-1]["is_record"] is False
    assert emulator.get_record(session_id).json()["result"] == 33


CALLS = [(kind, name) for kind in lifecycle.CALL_TYPES for name in lifecycle.SCENARIOS]


@pytest.mark.parametrize(("kind", "name"), CALLS, ids=[f"{k}-{n}" for k, n in CALLS])
def test_triggered_calls_follow_the_lifecycle(
    emulator: Emulator, receiver: tuple[Receiver, str], kind: str, name: str
) -> None:
    answer = emulator.admin(
        "POST", f"/clients/{CLIENT_ID}/calls", json={"type": kind, "scenario": name}
    )
    assert answer.status_code == 202, answer.text
    session_id = answer.json()["session_id"]
    expected = lifecycle.SCENARIOS[name]
    notes = [check_notification(n) for n in receiver[0].wait_call(session_id, len(expected))]
    assert tuple(n["state"] for n in notes) == expected
    assert {n["type"] for n in notes} == {kind}
    if name == "transferred":
        first, second = notes[1], notes[2]
        moved = "from_number" if kind == "outbound" else "request_number"
        assert first[moved] != second[moved]
    assert notes[-1]["is_record"] is (name != "missed")
    if kind == "incoming":
        assert notes[0]["request_number"] == "+74951112233"  # the domain's number
        assert "request_pin" not in notes[0]


def test_trigger_refuses_bad_parameters(emulator: Emulator) -> None:
    path = f"/clients/{CLIENT_ID}/calls"
    for body, word in [
        ({"type": "sideways"}, "type"),
        ({"scenario": "lost"}, "scenario"),
        ({"request_pin": "999"}, "request_pin"),
        ({"from_number": "123"}, "from_number"),
        ({"colour": "red"}, "colour"),
    ]:
        answer = emulator.admin("POST", path, json=body)
        assert answer.status_code == 400, body
        assert word in answer.json()["error"]


def test_a_slow_external_system_does_not_block_call_back(emulator: Emulator) -> None:
    slow = Receiver(delay=1.0)
    served = serve(slow)
    try:
        emulator.configure(external_address=served.url, timeout=0.2)
        session_id = started(emulator)  # answered while the notifications wait
        call = emulator.finished(session_id)
        errors = [n["error"] for n in call["notifications"]]
        assert all(e and "no answer within 0.2 s" in e for e in errors), errors
    finally:
        served.stop()


def test_too_many_calls_are_refused(emulator: Emulator) -> None:
    from conformance.reference.pbx.calls import MAX_ACTIVE

    emulator.admin("PATCH", "/scenario", json={"ring_ms": 10_000})
    emulator.configure(limits={"call_back": None})
    for _ in range(MAX_ACTIVE):
        assert emulator.admin("POST", f"/clients/{CLIENT_ID}/calls", json={}).status_code == 202
    assert emulator.admin("POST", f"/clients/{CLIENT_ID}/calls", json={}).status_code == 429
    answer = emulator.call("call_back", VECTOR_BODY)
    assert answer.status_code == 429
    assert answer.json()["result"] == 40


# -- the plain-HTTP listener, the request path, the call engine ---------------
def raw_exchange(url: str, data: bytes, until: bytes = b"", timeout: float = WAIT) -> bytes:
    """Send ``data`` on a fresh connection; read until ``until`` is seen or it closes."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    got = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        while not (until and until in got):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    return got


def signed_request(body: bytes, *, close: bool = False) -> bytes:
    headers = signing.signed_headers(CLIENT_ID, body, CLIENT_KEY)
    lines = [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Host: pbx"]
    if close:
        lines.append("Connection: close")
    return ("POST /call_back HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_the_http_listener_keeps_connections_alive(emulator: Emulator) -> None:
    pipelined = signed_request(VECTOR_BODY) + signed_request(VECTOR_BODY, close=True)
    got = raw_exchange(emulator.url, pipelined)
    assert got.count(b"HTTP/1.1 200 OK") == 2, got
    assert got.count(b'"result": 0') == 2
    first = got.split(b"\r\n\r\n", 1)[0].lower()
    assert b"connection: close" not in first  # kept alive: the second answer came on it
    assert b"date: " in first


def test_a_body_past_the_read_limit_is_refused_unread(emulator: Emulator) -> None:
    from conformance.reference.server import MAX_BODY

    head = signed_request(b"")[: -len(b"\r\n\r\n")].replace(
        b"Content-Length: 0", f"Content-Length: {MAX_BODY + 1}".encode()
    )
    got = raw_exchange(emulator.url, head + b"\r\n\r\n")  # the body never comes
    status, _, rest = got.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413 "), got
    assert b"connection: close" in rest.lower()
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["result"] == 3


def test_a_stalled_client_is_disconnected(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conformance.reference import server

    monkeypatch.setattr(server, "IDLE_TIMEOUT", 0.3)
    request = signed_request(VECTOR_BODY)
    head_end = request.index(b"\r\n\r\n")
    for partial in (b"", request[: head_end // 2], request[:-10]):  # nothing, half a head, ...
        assert raw_exchange(emulator.url, partial) == b"", partial  # closed, nothing answered
    assert emulator.call("call_back", VECTOR_BODY).json()["result"] == 0


def test_a_waiting_admin_request_does_not_hold_up_the_api(emulator: Emulator) -> None:
    arrived, release = threading.Event(), threading.Event()

    def held(request: Request) -> Response:
        arrived.set()
        release.wait(WAIT)
        return Response(200, b"{}")

    served = serve(held)
    done: list[httpx.Response] = []
    path = f"/clients/{CLIENT_ID}/test-notification"
    waiting = threading.Thread(target=lambda: done.append(emulator.admin("POST", path, json={})))
    try:
        emulator.configure(external_address=served.url, timeout=WAIT)
        waiting.start()
        assert arrived.wait(WAIT)  # the test notification waits on the external system
        assert emulator.call("call_back", VECTOR_BODY).json()["result"] == 0
        assert waiting.is_alive()
    finally:
        release.set()
        waiting.join(WAIT)
        served.stop()
    assert done[0].json()["delivery"]["delivered"] is True


FAST_PATH_DOCS: list[dict[str, Any]] = [
    {"request_number": E164, "from_pin": "101"},
    {"request_number": E164, "from_pin": "0101"},
    {"request_number": E164, "from_pin": "123456789"},
    {"request_number": E164, "from_pin": 101},
    {"request_number": E164, "from_pin": "test_user@cloudpbx.rt.ru"},
    {"request_number": E164, "from_pin": "12ab"},
    {"request_number": E164, "from_pin": ["101"]},
    {"request_number": E164, "from_sipuri": "test_user@cloudpbx.rt.ru"},
    {"request_number": E164, "from_sipuri": "sip:user@pbx.example:5060", "from_pin": "junk"},
    {"request_number": E164, "from_sipuri": "not a uri", "from_pin": "101"},
    {"request_number": E164, "from_sipuri": 7, "from_pin": "101"},
    {"request_number": E164 + "\n", "from_pin": "101"},
    {"request_number": "+７４９５１２３４５６７", "from_pin": "101"},
    {"request_number": "+7495", "from_sipuri": "test_user@cloudpbx.rt.ru"},
    {"request_number": 74951234567, "from_pin": "101"},
    {"request_number": E164},
    {"from_pin": "101"},
    {"request_number": E164, "from_pin": "101", "extra": {"any": "thing"}},
]


@pytest.mark.parametrize("doc", FAST_PATH_DOCS, ids=[json.dumps(d) for d in FAST_PATH_DOCS])
def test_the_fast_accept_path_agrees_with_the_schema(
    doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from conformance.reference.pbx import api

    checker = api.Api(Pbx(admin_token=TOKEN))

    def outcome() -> tuple[int, int, str] | None:
        problem = checker.call_back_problem(dict(doc))
        return None if problem is None else (problem.status, problem.result, problem.message)

    fast = outcome()
    monkeypatch.setattr(api, "plainly_valid", lambda doc: False)  # the schema alone
    assert fast == outcome()
    checker.pbx.engine.shutdown()


def test_calls_with_nothing_to_send_never_fill_the_cap(emulator: Emulator) -> None:
    from conformance.reference.pbx.calls import MAX_ACTIVE

    emulator.admin("PATCH", "/scenario", json={"ring_ms": 0, "announcement_ms": 0, "talk_ms": 0})
    emulator.configure(limits={"call_back": None}, notifications={"call_events": False})
    for _ in range(MAX_ACTIVE + 8):
        assert emulator.call("call_back", VECTOR_BODY).json()["result"] == 0
    assert wait_until(emulator.pbx.engine.idle)


def test_stopping_ends_calls_that_wait(receiver: tuple[Receiver, str]) -> None:
    pbx = Pbx(admin_token=TOKEN, scenario=Scenario(ring_ms=10_000))
    listening = pbx.start()
    client = pbx.registry.create({"external_address": receiver[1], "enabled": True})
    with httpx.Client(timeout=WAIT) as http:
        headers = signing.signed_headers(client.client_id, VECTOR_BODY, client.key)
        answer = http.post(f"{pbx.http_url}/call_back", content=VECTOR_BODY, headers=headers)
    call = pbx.engine.get(answer.json()["session_id"])
    assert call is not None
    assert wait_until(lambda: len(call.notifications) == 1)  # new sent; connected waits 20 s
    listening.stop()
    assert call.finished
    assert call.aborted
    assert pbx.engine.idle()


# -- get_record (А.4) -------------------------------------------------------
def test_get_record_by_post_gives_a_single_use_link(emulator: Emulator) -> None:
    session_id = started(emulator)
    emulator.finished(session_id)
    doc = emulator.get_record(session_id).json()
    assert doc["result"] == 0
    assert schemas.is_valid("get_record.response", doc)
    first = emulator.http.get(doc["url"])
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(first.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (8000, 1, 8000)
    again = emulator.http.get(doc["url"])
    assert again.status_code == 410
    assert again.json()["result"] == 34
    fresh = emulator.get_record(session_id).json()["url"]  # each request, a new link
    assert fresh != doc["url"]
    assert emulator.http.get(fresh).status_code == 200


def test_get_record_by_get_with_a_query_string(emulator: Emulator) -> None:
    session_id = started(emulator)
    emulator.finished(session_id)
    query = f"session_id={session_id}".encode()
    headers = {
        "X-Client-ID": CLIENT_ID,
        "X-Client-Sign": signing.sign(CLIENT_ID, query, CLIENT_KEY),
    }
    answer = emulator.http.get(f"{emulator.url}/get_record?{query.decode()}", headers=headers)
    assert answer.json()["result"] == 0, answer.text
    assert emulator.http.get(answer.json()["url"]).status_code == 200
    headers["X-Client-Sign"] = signing.sign(CLIENT_ID, b"", CLIENT_KEY)
    refused = emulator.http.get(f"{emulator.url}/get_record?{query.decode()}", headers=headers)
    assert refused.json()["result"] == 14


def test_get_record_refusals(emulator: Emulator) -> None:
    assert emulator.get_record("no-such-session").json()["result"] == 31
    answer = emulator.call("get_record", b"{}")
    assert (answer.status_code, answer.json()["result"]) == (400, 30)
    assert "url" not in answer.json()
    assert emulator.call("get_record", b'{"session_id": ""}').json()["result"] == 30
    emulator.admin("PATCH", "/scenario", json={"ring_ms": 10_000})
    in_progress = started(emulator)
    assert emulator.get_record(in_progress).json()["result"] == 32
    assert emulator.http.get(f"{emulator.url}/records/unknown-token").status_code == 404


def test_unrecorded_calls_have_no_record_and_say_so(
    emulator: Emulator, receiver: tuple[Receiver, str]
) -> None:
    emulator.configure(record_calls=False)
    session_id = started(emulator)
    notes = receiver[0].wait_call(session_id, 3)
    assert notes[-1].doc["is_record"] is False
    emulator.finished(session_id)
    answer = emulator.get_record(session_id).json()
    assert answer["result"] == 33
    assert "url" not in answer


def test_another_clients_session_is_unknown(emulator: Emulator) -> None:
    session_id = started(emulator)
    emulator.finished(session_id)
    other = emulator.admin("POST", "/clients", json={"external_address": "127.0.0.1:9"}).json()
    emulator.admin("PATCH", f"/clients/{other['client_id']}", json={"enabled": True})
    body = json.dumps({"session_id": session_id}).encode()
    answer = emulator.call(
        "get_record", body, client_id=other["client_id"], key=other["client_key"]
    )
    assert answer.json()["result"] == 31


# -- settings of 3.1 ------------------------------------------------------
def test_limits_per_method(emulator: Emulator) -> None:
    methods = emulator.admin(
        "PATCH",
        f"/clients/{CLIENT_ID}/methods/call_back",
        json={"limit": {"count": 2, "period": 3600}},
    )
    assert methods.status_code == 200
    results = [emulator.call("call_back", VECTOR_BODY).json()["result"] for _ in range(3)]
    assert results == [0, 0, 16]
    refused = emulator.call("call_back", VECTOR_BODY)
    assert refused.status_code == 429
    assert "limit of 2 call_back requests per 3600 s" in refused.json()["resultMessage"]
    assert emulator.get_record("x").json()["result"] == 31  # get_record has its own limit
    stats = emulator.admin("GET", f"/clients/{CLIENT_ID}/stats?period=60").json()["stats"]
    assert stats["call_back"] == {"total": 4, "ok": 2, "failed": 2}
    assert stats["get_record"]["total"] == 1
    table = emulator.admin("GET", f"/clients/{CLIENT_ID}/methods").json()["methods"]
    assert table["call_back"]["used"] == 2
    assert table["call_back"]["limit"] == {"count": 2, "period": 3600.0}


def test_allow_list(emulator: Emulator) -> None:
    path = f"/clients/{CLIENT_ID}/allow-list"
    assert emulator.admin("PUT", path, json={"allow_list": ["10.0.0.0/8"]}).status_code == 200
    refused = emulator.call("call_back", VECTOR_BODY)
    assert (refused.status_code, refused.json()["result"]) == (403, 13)
    assert emulator.admin("POST", path, json={"ip": "127.0.0.1"}).json()["allow_list"] == [
        "10.0.0.0/8",
        "127.0.0.1",
    ]
    assert emulator.call("call_back", VECTOR_BODY).json()["result"] == 0
    assert emulator.admin("GET", path + "?filter=10.").json()["allow_list"] == ["10.0.0.0/8"]
    assert emulator.admin("DELETE", path + "?ip=127.0.0.1").status_code == 200
    assert emulator.call("call_back", VECTOR_BODY).json()["result"] == 13
    assert emulator.admin("PUT", path, json={"allow_list": []}).status_code == 200
    assert emulator.call("call_back", VECTOR_BODY).json()["result"] == 0  # empty = any
    assert emulator.admin("POST", path, json={"ip": "not-an-ip"}).status_code == 400


def test_the_allow_list_judges_the_peer_not_a_forwarded_header(emulator: Emulator) -> None:
    path = f"/clients/{CLIENT_ID}/allow-list"
    assert emulator.admin("PUT", path, json={"allow_list": ["10.0.0.0/8"]}).status_code == 200
    headers = signing.signed_headers(CLIENT_ID, VECTOR_BODY, CLIENT_KEY)
    for forwarded in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        spoofed = {**headers, forwarded: "10.1.2.3"}
        answer = emulator.http.post(
            f"{emulator.url}/call_back", content=VECTOR_BODY, headers=spoofed
        )
        assert answer.json()["result"] == 13, forwarded


def test_service_off_refuses_and_sends_nothing(
    emulator: Emulator, receiver: tuple[Receiver, str]
) -> None:
    emulator.configure(enabled=False)
    answer = emulator.call("call_back", VECTOR_BODY)
    assert (answer.status_code, answer.json()["result"]) == (403, 15)
    assert "off" in answer.json()["resultMessage"]
    triggered = emulator.admin("POST", f"/clients/{CLIENT_ID}/calls", json={}).json()
    assert triggered["warning"]
    call = emulator.finished(triggered["session_id"])
    assert all(n["skipped"] for n in call["notifications"])
    assert receiver[0].got == []


def test_service_needs_an_address_to_be_on(emulator: Emulator) -> None:
    created = emulator.admin("POST", "/clients", json={}).json()
    assert created["enabled"] is False  # "по умолчанию ... «Выключен»" (3.1.1)
    answer = emulator.admin("PATCH", f"/clients/{created['client_id']}", json={"enabled": True})
    assert answer.status_code == 400
    assert "external_address" in answer.json()["error"]


def test_call_events_switched_off(emulator: Emulator, receiver: tuple[Receiver, str]) -> None:
    path = f"/clients/{CLIENT_ID}/methods/call_events"
    assert emulator.admin("PATCH", path, json={"enabled": False}).status_code == 200
    session_id = started(emulator)
    call = emulator.finished(session_id)
    assert {n["skipped"] for n in call["notifications"]} == {"call_events is switched off (3.1.3)"}
    assert receiver[0].got == []
    refused = emulator.admin(
        "PATCH", f"/clients/{CLIENT_ID}/methods/call_back", json={"enabled": False}
    )
    assert refused.status_code == 400  # requests from the CRM are always on (3.1.3)


def test_clients_keys_and_regeneration(emulator: Emulator) -> None:
    created = emulator.admin("POST", "/clients", json={}).json()
    for name in ("client_id", "client_key"):
        assert len(created[name]) == 32
        assert created[name] == created[name].upper()
        int(created[name], 16)
    assert emulator.admin("POST", "/clients", json={"client_id": CLIENT_ID}).status_code == 400
    new_key = emulator.admin("POST", f"/clients/{CLIENT_ID}/key").json()["client_key"]
    assert new_key != CLIENT_KEY
    assert emulator.call("call_back", VECTOR_BODY).json()["result"] == 14
    assert emulator.call("call_back", VECTOR_BODY, key=new_key).json()["result"] == 0
    assert emulator.admin("DELETE", f"/clients/{created['client_id']}").status_code == 200
    assert emulator.admin("GET", f"/clients/{created['client_id']}").status_code == 404
    listed = emulator.admin("GET", "/clients").json()["clients"]
    assert [c["client_id"] for c in listed] == [CLIENT_ID]


def test_bad_settings_change_nothing(emulator: Emulator) -> None:
    before = emulator.admin("GET", f"/clients/{CLIENT_ID}").json()
    for changes in [
        {"timeout": 0},
        {"timeout": "5"},
        {"external_address": "ftp://x"},
        {"ssl": "yes"},
        {"users": {"0101": "a@b.c"}},
        {"limits": {"call_events": {"count": 1}}},
        {"limits": {"call_back": {"count": 0}}},
        {"nonsense": 1},
        {"timeout": 1, "allow_list": ["x"]},  # one bad value: none applied
    ]:
        answer = emulator.admin("PATCH", f"/clients/{CLIENT_ID}", json=changes)
        assert answer.status_code == 400, changes
        assert answer.json()["error"]
    assert emulator.admin("GET", f"/clients/{CLIENT_ID}").json() == before


# -- debugging (3.2) --------------------------------------------------------
def test_test_notifications_and_the_log(emulator: Emulator, receiver: tuple[Receiver, str]) -> None:
    emulator.configure(enabled=False)  # debugging comes before switching the service on (В.1)
    for state in lifecycle.STATES:
        answer = emulator.admin(
            "POST",
            f"/clients/{CLIENT_ID}/test-notification",
            json={"state": state, "session_id": "t-1"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["delivery"]["delivered"] is True
    notes = [check_notification(n) for n in receiver[0].got]
    assert [n["state"] for n in notes] == list(lifecycle.STATES)
    assert "is_record" not in notes[1]  # А.2: only on disconnected (E6)
    emulator.call("call_back", VECTOR_BODY)

    def log(query: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = emulator.admin("GET", "/log" + query).json()["entries"]
        return entries

    to_crm = log("?direction=to_crm")
    assert len(to_crm) == 3
    assert all(e["test"] and e["method"] == "call_events" and e["status"] == 200 for e in to_crm)
    from_crm = log("?direction=from_crm")
    assert [e["method"] for e in from_crm] == ["call_back"]
    assert from_crm[0]["request_body"] == VECTOR_BODY.decode()
    assert '"result": 15' in from_crm[0]["response_body"]
    assert log("?method=get_record") == []
    assert len(log(f"?client={CLIENT_ID}&method=all&direction=all")) == 4
    assert emulator.admin("GET", "/log?direction=sideways").status_code == 400
    assert emulator.admin("DELETE", f"/clients/{CLIENT_ID}/log").json()["removed"] == 4
    assert log("") == []


def test_timeout_is_reported_in_the_log(emulator: Emulator) -> None:
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        emulator.configure(external_address=f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.2)
        answer = emulator.admin("POST", f"/clients/{CLIENT_ID}/test-notification", json={})
    delivery = answer.json()["delivery"]
    assert delivery["delivered"] is False
    assert "no answer within 0.2 s" in delivery["error"]
    entry = emulator.admin("GET", "/log?direction=to_crm").json()["entries"][-1]
    assert entry["error"] == delivery["error"]


def test_admin_api_needs_the_token(emulator: Emulator) -> None:
    assert emulator.http.get(f"{emulator.url}/admin/clients").status_code == 401
    wrong = emulator.http.get(f"{emulator.url}/admin/clients", headers={"X-Admin-Token": "no"})
    assert wrong.status_code == 401
    right = emulator.http.get(f"{emulator.url}/admin/clients", headers={"X-Admin-Token": TOKEN})
    assert right.status_code == 200
    assert CLIENT_KEY not in emulator.http.get(f"{emulator.url}/admin/clients").text
    assert emulator.admin("GET", "/nowhere").status_code == 404
    assert emulator.admin("DELETE", "/settings").status_code == 405
    assert emulator.admin("PATCH", "/settings", content=b"nope").status_code == 400
    assert emulator.admin("GET", "").json()["api"]["https"].startswith("https://")


def test_ssl_both_ways(emulator: Emulator) -> None:
    pem = emulator.admin("GET", "/certificate")
    assert pem.status_code == 200
    assert pem.text.startswith("-----BEGIN CERTIFICATE-----")
    trust = tls.ssl.create_default_context(cadata=pem.text)
    crm = Receiver()
    identity = tls.self_signed()
    served = serve(crm, tls=identity.context)
    try:
        emulator.configure(ssl=True, external_address=served.url)
        plain = emulator.call("call_back", VECTOR_BODY)
        assert (plain.status_code, plain.json()["result"]) == (403, 12)
        https = emulator.pbx.https_url
        untrusted = emulator.admin("POST", f"/clients/{CLIENT_ID}/test-notification", json={})
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.json()["delivery"]["error"]
        put = emulator.admin(
            "PUT", f"/clients/{CLIENT_ID}/external-certificate", content=identity.certificate_pem
        )
        assert put.status_code == 200
        session_id = emulator.call("call_back", VECTOR_BODY, base=https, verify=trust).json()[
            "session_id"
        ]
        notes = crm.wait_call(session_id, 3)
        assert [check_notification(n)["state"] for n in notes] == list(lifecycle.STATES)
        assert emulator.finished(session_id)["notifications"][0]["delivered"] is True
        cert_path = f"/clients/{CLIENT_ID}/external-certificate"
        assert emulator.admin("GET", cert_path).text == identity.certificate_pem
        assert emulator.admin("DELETE", cert_path).json()["external_certificate"] is False
        assert emulator.admin("GET", cert_path).status_code == 404
        bad = emulator.admin("PUT", cert_path, json={"pem": "-----BEGIN CERTIFICATE-----\nx"})
        assert bad.status_code == 400
    finally:
        served.stop()


# -- the command line -------------------------------------------------------
def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.reference.pbx", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_cli_help() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for option in ("--admin-token", "--client-id", "--external-address", "--ring-ms", "--ssl"):
        assert option in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--timeout", "0"], "--timeout must be"),
        (["--ring-ms", "-1"], "--ring-ms: expected whole milliseconds"),
        (["--external-address", "ftp://x"], "--external-address: expected an http(s) address"),
        (["--client-id", "has space"], "--client-id: expected"),
        (["--call-back-outcome", "maybe"], "invalid choice"),
    ],
)
def test_cli_bad_options_one_line(args: list[str], message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert lines[0].startswith("vats-reference-pbx: error: ")


def test_cli_busy_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        done = run_cli("--port", str(sock.getsockname()[1]))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "cannot listen on 127.0.0.1" in lines[0]


def test_cli_serves_end_to_end(receiver: tuple[Receiver, str]) -> None:
    env = {
        "VATS_CLIENT_ID": CLIENT_ID,
        "VATS_CLIENT_KEY": CLIENT_KEY,
        "VATS_ADMIN_TOKEN": TOKEN,
    }
    child = process.start(
        "conformance.reference.pbx",
        ["--port", "0", "--external-address", receiver[1], "--ring-ms", "1", "--talk-ms", "1"],
        env,
    )
    try:
        assert child.url.startswith("http://127.0.0.1:")
        with httpx.Client(timeout=WAIT) as http:
            headers = signing.signed_headers(CLIENT_ID, VECTOR_BODY, CLIENT_KEY)
            answer = http.post(f"{child.url}/call_back", content=VECTOR_BODY, headers=headers)
            session_id = answer.json()["session_id"]
            assert len(receiver[0].wait_call(session_id, 3)) == 3
            assert http.get(f"{child.url}/admin").status_code == 401
            client = http.get(f"{child.url}/admin/clients/{CLIENT_ID}", headers=ADMIN).json()
            assert client["enabled"] is True
    finally:
        child.stop()
    assert child.process.returncode == 0


def test_cli_exits_with_its_parent(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w+", encoding="utf-8") as errors:
        popen = subprocess.Popen(
            [sys.executable, "-m", "conformance.reference.pbx", "--port", "0", "--with-parent"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=ROOT,
        )
        child = process.wait_listening(process.Launched(popen, errors, "pbx"))
        try:
            assert popen.stdin is not None
            popen.stdin.close()
            assert popen.wait(timeout=WAIT) == 0
        finally:
            child.stop()
