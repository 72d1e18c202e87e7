"""The reference CRM's client side (conformance/reference/crm_client.py) and the
receiver's fetching of recordings (``--pbx-url``), against the PBX emulator run in
this process (``Pbx``) on loopback.

Every wait is bounded; only lower bounds of time are asserted (the pauses between
tries), never how fast anything was.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conformance.reference import process
from conformance.reference.crm import Recordings, ReferenceCrm, main, says_recorded
from conformance.reference.crm_client import CrmClient, Fetched, Reply, Sent
from conformance.reference.pbx.app import Pbx
from conformance.reference.web import Headers, Request, Response
from conformance.spec import examples, signing
from tests.support import CLIENT_ID, CLIENT_KEY, ROOT, serving

WAIT = 15.0  # the longest any one wait may take
SUCCESS = "Операция выполнена успешно"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def make_pbx(external_address: str = "127.0.0.1:9", *, notify: bool = False) -> Pbx:
    """An emulator with the suite's client: no limits; call_events off unless ``notify``."""
    pbx = Pbx()
    pbx.registry.create(
        {
            "client_id": CLIENT_ID,
            "client_key": CLIENT_KEY,
            "enabled": True,
            "external_address": external_address,
            "notifications": {"call_events": notify},
            "limits": {"call_back": None, "get_record": None},
        }
    )
    return pbx


@pytest.fixture
def api() -> Iterator[tuple[Pbx, str]]:
    pbx = make_pbx()
    try:
        with serving(pbx) as url:
            yield pbx, url
    finally:
        pbx.engine.shutdown()


def recorded_call(pbx: Pbx, url: str) -> str:
    """A finished, recorded call of the client: its session id."""
    reply = CrmClient(url, CLIENT_ID, CLIENT_KEY).place_call_back("+74951234567", from_pin="101")
    assert reply.ok, reply
    assert reply.value is not None
    call = pbx.engine.get(reply.value)
    assert call is not None
    assert wait_until(lambda: call.finished)
    assert call.recorded
    return reply.value


def asked(pbx: Pbx, method: str) -> list[Any]:
    return pbx.log.query(method=method)


# -- the client against the emulator ----------------------------------------------


def test_call_back_succeeds_signed_over_the_bytes_sent(api: tuple[Pbx, str]) -> None:
    pbx, url = api
    reply = CrmClient(url, CLIENT_ID, CLIENT_KEY).place_call_back("+74951234567", from_pin="101")
    assert reply.ok, reply
    assert reply.status == 200
    assert reply.value
    assert pbx.engine.get(reply.value) is not None
    [entry] = asked(pbx, "call_back")
    body = entry.request_body.encode("utf-8")
    assert json.loads(body) == {"request_number": "+74951234567", "from_pin": "101"}
    headers = entry.request_headers
    assert headers["X-Client-ID"] == CLIENT_ID
    assert headers["X-Client-Sign"] == signing.sign(CLIENT_ID, body, CLIENT_KEY)
    assert headers["Content-Type"] == "application/json"


def test_call_back_by_sip_uri(api: tuple[Pbx, str]) -> None:
    _, url = api
    client = CrmClient(url, CLIENT_ID, CLIENT_KEY)
    reply = client.place_call_back("+74951234567", from_sipuri="sip:test_user@cloudpbx.rt.ru")
    assert reply.ok, reply
    with pytest.raises(ValueError, match="from_pin or by from_sipuri"):
        client.place_call_back("+74951234567")


def test_a_recording_is_fetched_and_its_link_used_once(api: tuple[Pbx, str]) -> None:
    pbx, url = api
    session_id = recorded_call(pbx, url)
    fetched = CrmClient(url, CLIENT_ID, CLIENT_KEY).fetch_recording(session_id)
    assert fetched.audio is not None
    assert fetched.audio.startswith(b"RIFF")
    assert [r.method for r in fetched.replies] == ["POST", "GET"]
    link = fetched.replies[0].value
    assert link is not None
    # the link is spent: the client fetched it once, and a second GET is refused
    again = CrmClient(url, CLIENT_ID, CLIENT_KEY).download(link)
    assert not again.ok
    assert again.status == 410


def test_get_record_of_an_unknown_session_is_refused_and_not_retried(
    api: tuple[Pbx, str],
) -> None:
    pbx, url = api
    fetched = CrmClient(url, CLIENT_ID, CLIENT_KEY).fetch_recording("no-such-session")
    assert fetched.audio is None
    [reply] = fetched.replies
    assert not reply.ok
    assert reply.status == 404
    assert reply.code == 31
    assert len(asked(pbx, "get_record")) == 1


def test_get_record_by_get_signs_the_raw_query(api: tuple[Pbx, str]) -> None:
    """D21: a GET without a body is signed over its raw query string; the emulator agrees."""
    pbx, url = api
    session_id = recorded_call(pbx, url)

    class ByGet(CrmClient):
        def http_method(self, api_method: str) -> str:
            return "GET" if api_method == "get_record" else "POST"

    fetched = ByGet(url, CLIENT_ID, CLIENT_KEY).fetch_recording(session_id)
    assert fetched.audio is not None, fetched.replies
    assert fetched.replies[0].method == "GET"


class _Answers:
    """A PBX that answers every request with the next of ``answers`` (the last repeats)."""

    def __init__(self, *answers: tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.times.append(time.monotonic())
            status, doc = self.answers[min(len(self.times), len(self.answers)) - 1]
        return Response(status, json.dumps(doc).encode(), [("Content-Type", "application/json")])


def test_a_refusal_that_says_later_is_asked_twice_more_2s_apart() -> None:
    pbx = _Answers((409, {"result": 32, "resultMessage": "in progress"}))
    with serving(pbx) as url:
        fetched = CrmClient(url, CLIENT_ID, CLIENT_KEY).fetch_recording("s-1")
    assert fetched.audio is None
    assert len(pbx.times) == 3
    gaps = [b - a for a, b in zip(pbx.times, pbx.times[1:], strict=False)]
    assert all(gap >= 1.95 for gap in gaps), gaps


def test_an_http_200_refusal_in_progress_is_asked_again_then_fetched() -> None:
    """Errors as HTTP 200 with result > 0 (E11): result 32 says "later" too."""
    audio = b"RIFF-not-really"

    class Pbx200:
        def __init__(self) -> None:
            self.asked = 0

        def __call__(self, request: Request) -> Response:
            if request.path.startswith("/records/"):
                return Response(200, audio, [("Content-Type", "audio/wav")])
            self.asked += 1
            if self.asked == 1:
                doc: dict[str, Any] = {"result": "32", "resultMessage": "no recording yet"}
            else:
                doc = {"result": "0", "resultMessage": SUCCESS, "url": "/records/t"}
            return Response(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])

    class Quick(CrmClient):
        def retry_pauses(self) -> tuple[float, ...]:
            return (0.05, 0.05)

    app = Pbx200()
    with serving(app) as url:
        fetched = Quick(url, CLIENT_ID, CLIENT_KEY).fetch_recording("s-1")
    assert fetched.audio == audio
    assert app.asked == 2


def test_a_redirect_of_the_link_is_not_followed() -> None:
    decoy = _Answers((200, {"got": "you"}))
    with serving(decoy) as elsewhere:

        def pbx(request: Request) -> Response:
            if request.path.startswith("/records/"):
                return Response(302, b"", [("Location", f"{elsewhere}/stolen")])
            doc = {"result": 0, "resultMessage": SUCCESS, "url": "/records/t"}
            return Response(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])

        with serving(pbx) as url:
            fetched = CrmClient(url, CLIENT_ID, CLIENT_KEY).fetch_recording("s-1")
    assert fetched.audio is None
    assert fetched.replies[-1].status == 302
    assert decoy.times == []
    assert len(fetched.replies) == 2  # no retry of a redirect either


def _sent(status: int | None, doc: Any = None, *, raw: bytes | None = None) -> Sent:
    content = raw if raw is not None else json.dumps(doc, ensure_ascii=False).encode()
    return Sent("POST", "http://pbx.invalid/x", status, "application/json", content)


SID = "534dbe28-7e58-4705-89a4-26a308405464"  # the А.3 example's
LINK = "https://pbx.invalid/records/t"
E1_EXAMPLE = {"result": "1", "resultMessage": SUCCESS, "session_id": SID}


@pytest.mark.parametrize(
    ("method", "sent", "ok"),
    [
        ("call_back", _sent(200, {"result": 0, "resultMessage": SUCCESS, "session_id": SID}), True),
        ("call_back", _sent(200, {"result": "0", "resultMessage": SUCCESS}), True),
        # E1: the guide's example, "1" with the success message and a session id
        ("call_back", _sent(200, E1_EXAMPLE), True),
        # a 1 without the session id is no success, whatever the message says
        ("call_back", _sent(200, {"result": "1", "resultMessage": SUCCESS}), False),
        ("call_back", _sent(200, {"result": 1, "resultMessage": SUCCESS, "session_id": ""}), False),
        # errors as HTTP 200 with result > 0 (E11), and production's negative codes
        ("call_back", _sent(200, {"result": 14, "resultMessage": "bad signature"}), False),
        ("call_back", _sent(200, {"result": "-20", "resultMessage": "error"}), False),
        ("call_back", _sent(200, {"result": "2", "resultMessage": "x", "session_id": SID}), False),
        ("call_back", _sent(403, {"result": 14, "resultMessage": "bad signature"}), False),
        ("call_back", _sent(200, {"result": "ok", "session_id": SID}), False),
        ("call_back", _sent(200, {"resultMessage": "no result", "session_id": SID}), True),
        ("call_back", _sent(200, raw=b"<html>ok</html>"), False),
        ("call_back", _sent(302, raw=b""), False),
        ("call_back", _sent(500, {"result": 0, "session_id": SID}), False),
        ("call_back", _sent(None, raw=b""), False),
        ("get_record", _sent(200, {"result": "0", "resultMessage": SUCCESS, "url": LINK}), True),
        ("get_record", _sent(200, {"result": 1, "resultMessage": SUCCESS, "url": LINK}), True),
        ("get_record", _sent(200, {"result": 0, "resultMessage": SUCCESS}), False),
        ("get_record", _sent(200, {"result": 0, "resultMessage": SUCCESS, "url": ""}), False),
        ("get_record", _sent(200, {"result": "33", "resultMessage": "not recorded"}), False),
        ("get_record", _sent(404, {"result": 31, "resultMessage": "unknown"}), False),
    ],
)
def test_answers_are_read_under_every_reading(method: str, sent: Sent, ok: bool) -> None:
    reply = CrmClient("http://pbx.invalid", CLIENT_ID, CLIENT_KEY).read_answer(method, sent)
    assert reply.ok is ok, reply
    if not ok:
        assert reply.value is None  # a refusal gives nothing to act on


@pytest.mark.parametrize(
    ("status", "result", "later"),
    [
        (409, 32, True),
        (429, 16, True),
        (503, None, True),
        (200, "32", True),
        (200, 16, True),
        (200, "40", True),
        (404, 31, False),
        (404, 33, False),
        (403, 14, False),
        (200, "14", False),
        (400, 30, False),
        (500, None, False),
    ],
)
def test_only_refusals_that_say_later_are_retried(status: int, result: Any, later: bool) -> None:
    client = CrmClient("http://pbx.invalid", CLIENT_ID, CLIENT_KEY)
    reply = Reply("POST", "http://pbx.invalid/get_record", status, False, result)
    assert client.try_later(reply) is later


def test_the_key_is_never_shown() -> None:
    client = CrmClient("http://pbx.invalid", CLIENT_ID, CLIENT_KEY)
    assert CLIENT_KEY not in repr(client)
    assert CLIENT_KEY not in str(vars(client).get("api_url"))


# -- the receiver fetches recordings --------------------------------------------------


class _Holding(CrmClient):
    """Fetches nothing: notes each session asked and blocks until ``go`` is set."""

    def __init__(self) -> None:
        super().__init__("http://pbx.invalid", CLIENT_ID, CLIENT_KEY)
        self.go = threading.Event()
        self.asked: list[str] = []

    def fetch_recording(self, session_id: str) -> Fetched:
        self.asked.append(session_id)
        self.go.wait(WAIT)
        return Fetched([], None)


def _disconnected(session_id: str, is_record: Any) -> Request:
    doc = examples.value("call_events.disconnected")
    doc.update(session_id=session_id, is_record=is_record)
    body = json.dumps(doc, ensure_ascii=False).encode()
    headers = Headers(
        [
            ("X-Client-ID", CLIENT_ID),
            ("X-Client-Sign", signing.sign(CLIENT_ID, body, CLIENT_KEY)),
            ("Content-Type", "application/json"),
        ]
    )
    return Request(
        "POST", "/call_events", b"", headers, body, True, "127.0.0.1", "http://crm", "/call_events"
    )


@pytest.mark.parametrize(
    ("value", "recorded"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        (1, True),
        ("1", True),
        (False, False),
        ("false", False),
        (0, False),
        ("0", False),
        ("", False),
        (None, False),
    ],
)
def test_is_record_is_read_in_every_reading(value: Any, recorded: bool) -> None:
    """Every reading counts (the receiver's schema decides which it accepts at all)."""
    assert says_recorded(value) is recorded


def test_the_receiver_answers_at_once_fetches_once_and_drops_when_full() -> None:
    client = _Holding()
    crm = ReferenceCrm(CLIENT_ID, CLIENT_KEY, client=client)
    assert crm.recordings is not None
    crm.recordings = Recordings(client, max_waiting=1)
    try:
        # answered while the first fetch is blocked: the answer never waits for it
        assert crm(_disconnected("s-1", "true")).status == 200
        assert wait_until(lambda: client.asked == ["s-1"])
        assert crm(_disconnected("s-1", True)).status == 200  # a repeat: not again
        assert crm(_disconnected("s-2", True)).status == 200  # waits in the queue
        assert crm(_disconnected("s-3", "true")).status == 200  # the queue is full: dropped
        assert crm(_disconnected("s-4", "false")).status == 200  # not recorded
        assert crm.recordings.dropped == 1
        client.go.set()
        assert crm.recordings.idle(WAIT)
        assert client.asked == ["s-1", "s-2"]
        assert set(crm.sessions) == {"s-1", "s-2", "s-3", "s-4"}  # every one recorded
    finally:
        client.go.set()
        crm.close()


def test_a_refused_notification_fetches_nothing() -> None:
    client = _Holding()
    client.go.set()
    crm = ReferenceCrm(CLIENT_ID, CLIENT_KEY, client=client)
    request = _disconnected("s-1", True)
    forged = Request(
        request.method,
        request.path,
        request.query,
        Headers([("X-Client-ID", CLIENT_ID), ("X-Client-Sign", "0" * 64)]),
        request.body,
        True,
        request.remote,
        request.base_url,
        request.target,
    )
    try:
        assert crm(forged).status == 403
        assert crm.recordings is not None
        assert crm.recordings.idle(WAIT)
        assert client.asked == []
    finally:
        crm.close()


def _lines_until(child: process.Child, wanted: str, timeout: float = WAIT) -> list[str]:
    """The child's output lines, read until one contains ``wanted`` (bounded)."""
    out = child.process.stdout
    assert out is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(out, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = out.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if wanted in line:
                return lines
    raise AssertionError(f"no {wanted!r} within {timeout:g} s; got {lines}")


def test_the_receiver_with_pbx_url_fetches_recorded_calls_only() -> None:
    """``vats-reference-crm --pbx-url``: the PBX notifies it of a call it placed; after
    an unrecorded call no get_record, after a recorded one get_record and the download."""
    pbx = make_pbx(notify=True)
    try:
        with serving(pbx) as url:
            child = process.start(
                "conformance.reference.crm",
                ["--port", "0", "--pbx-url", url],
                {"VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": CLIENT_KEY},
            )
            try:
                _fetches_recorded_calls_only(pbx, url, child)
            finally:
                child.stop()
    finally:
        pbx.engine.shutdown()


def _fetches_recorded_calls_only(pbx: Pbx, url: str, child: process.Child) -> None:
    with pbx.registry.client(CLIENT_ID) as client:
        client.external_address = child.url.split("://", 1)[1]
        client.record_calls = False
    caller = CrmClient(url, CLIENT_ID, CLIENT_KEY)
    unrecorded = _placed(pbx, caller)
    with pbx.registry.client(CLIENT_ID) as client:
        client.record_calls = True
    recorded = _placed(pbx, caller)
    lines = _lines_until(child, f"recording of {recorded}:")
    assert "saved 16044 bytes" in lines[-1], lines
    assert not any(unrecorded in line and "recording" in line for line in lines), lines
    bodies = [json.loads(e.request_body) for e in asked(pbx, "get_record")]
    assert bodies == [{"session_id": recorded}]
    assert CLIENT_KEY not in "\n".join(lines)


def _placed(pbx: Pbx, caller: CrmClient) -> str:
    """Place a call and wait until it ended (its disconnected answered by the CRM)."""
    reply = caller.place_call_back("+74951234567", from_pin="101")
    assert reply.ok, reply
    assert reply.value is not None
    call = pbx.engine.get(reply.value)
    assert call is not None
    assert wait_until(lambda: call.finished)
    assert call.states[-1] == "disconnected"
    assert all(n.get("status") == 200 for n in call.notifications), call.notifications
    return reply.value


def test_the_receiver_refuses_a_bad_pbx_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--client-id", "a", "--client-key", "b", "--pbx-url", "ftp://pbx"])
    assert exited.value.code == 2
    assert "--pbx-url must be an http(s) URL" in capsys.readouterr().err


# -- the command line --------------------------------------------------------------


def _run_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
    return subprocess.run(
        [sys.executable, "-m", "conformance.reference.crm_client"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_names_the_missing_variables_in_one_line() -> None:
    done = _run_cli({"VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": ""})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "vats-reference-crm-client: error: VATS_API_URL, VATS_CLIENT_KEY not set (see --help)"
    ]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_the_cli_places_a_call_back_and_fetches_the_recording(api: tuple[Pbx, str]) -> None:
    pbx, url = api
    session_id = recorded_call(pbx, url)
    done = _run_cli(
        {
            "VATS_API_URL": url,
            "VATS_CLIENT_ID": CLIENT_ID,
            "VATS_CLIENT_KEY": CLIENT_KEY,
            "VATS_RECORDED_SESSION_ID": session_id,
        }
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(" -> ")[0] for line in lines] == [
        "vats-reference-crm-client: POST /call_back",
        "vats-reference-crm-client: POST /get_record",
        f"vats-reference-crm-client: GET {lines[2].split(' ')[2]}",
    ]
    assert all(" -> 200" in line for line in lines), lines
    assert "result=0" in lines[0]
    assert CLIENT_KEY not in done.stdout + done.stderr
    assert len(asked(pbx, "call_back")) == 2


def test_the_cli_exits_1_when_the_pbx_cannot_be_reached() -> None:
    with serving(lambda request: Response(200)) as url:
        pass  # the port is free again: nothing answers there
    done = _run_cli({"VATS_API_URL": url, "VATS_CLIENT_ID": "a", "VATS_CLIENT_KEY": "b"})
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stdout.splitlines()
    assert "POST /call_back -> no answer" in line
    assert "Traceback" not in done.stderr
