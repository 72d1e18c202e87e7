"""The suite's listener: what the PBX is expected to send is answered 200, everything else is
recorded as evidence, a body is bounded, and a failing handler is the suite's own error."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance.transport import listener as listener_module
from conformance.transport.listener import MAX_BODY, Listener, ListenerError
from tests.support import run_suite

NOTE = json.dumps({"session_id": "s-1", "state": "new"}).encode()


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener("127.0.0.1", 0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def post(url: str, body: bytes = NOTE, *, method: str = "POST") -> httpx.Response:
    return httpx.request(method, url, content=body, timeout=5.0, trust_env=False)


def test_a_notification_is_answered_and_recorded_once(listener: Listener) -> None:
    answer = post(f"{listener.url}/call_events?x=1")
    assert (answer.status_code, answer.content) == (200, b"{}")
    (got,) = listener.snapshot()
    assert (got.method, got.path, got.body, got.session_id) == ("POST", "/call_events", NOTE, "s-1")
    assert got.exchange is got.exchange  # one exchange, whichever case cites it
    record = got.exchange.to_json()
    assert record["received"] is True
    assert "elapsed_ms" not in record  # no round trip was measured
    assert record["request"]["url"] == f"{listener.url}/call_events?x=1"
    assert record["response"]["status"] == 200
    assert record["response"]["body"] == "{}"
    assert ["Content-Type", "application/json"] in map(list, record["response"]["headers"])
    assert listener.count == 1


def test_a_request_to_another_path_or_with_another_method_is_recorded(listener: Listener) -> None:
    assert post(f"{listener.url}/events").status_code == 404
    wrong_method = post(f"{listener.url}/call_events", method="PUT")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"
    got = listener.snapshot()
    assert [(r.method, r.path, r.status) for r in got] == [
        ("POST", "/events", 404),
        ("PUT", "/call_events", 405),
    ]
    assert all(r.session_id == "s-1" for r in got)  # still judged as the call's notifications
    assert [r.exchange.status for r in got] == [404, 405]  # the answers really given
    assert listener.count == 2


def test_a_body_is_read_up_to_its_bound(listener: Listener) -> None:
    answer = post(f"{listener.url}/call_events", b"x" * (MAX_BODY + 10))
    assert answer.status_code == 413
    (got,) = listener.snapshot()
    assert (got.status, len(got.body), got.doc) == (413, MAX_BODY, None)


def _raw(listener: Listener, data: bytes) -> None:
    host, port = listener.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5.0) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(5.0)
        while conn.recv(4096):
            pass


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (
            b"POST /call_events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
            "the connection closed before the whole body arrived",
        ),
        (
            b"POST /call_events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "a body that is not valid HTTP",
        ),
    ],
    ids=["closed-mid-body", "bad-chunk"],
)
def test_a_broken_request_is_the_pbx_fault_not_the_listener(
    listener: Listener, data: bytes, why: str
) -> None:
    """Recorded with what arrived, answered 400; the listener goes on (no ListenerError)."""
    _raw(listener, data)
    deadline = time.monotonic() + 5.0
    while not listener.count and time.monotonic() < deadline:
        time.sleep(0.02)
    (got,) = listener.snapshot()
    assert (got.status, got.doc) == (400, None)
    assert why in got.answer_body.decode()
    assert post(f"{listener.url}/call_events").status_code == 200
    assert len(listener.snapshot()) == 2


def test_a_handler_error_surfaces_and_stays(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(body: bytes) -> None:
        raise ValueError("a bug planted in the listener")

    monkeypatch.setattr(listener_module, "parse_json", broken)
    assert post(f"{listener.url}/call_events").status_code == 500
    for _ in range(2):  # every later read says so, not only the first
        with pytest.raises(ListenerError, match="ValueError: a bug planted in the listener"):
            listener.snapshot()
    start = time.monotonic()
    with pytest.raises(ListenerError):
        listener.wait(lambda received: False, timeout=30)
    assert time.monotonic() - start < 5


def test_a_handler_error_while_waiting_ends_the_wait(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener_module, "parse_json", lambda body: 1 / 0)
    sender = threading.Timer(0.3, post, args=(f"{listener.url}/call_events",))
    sender.start()
    start = time.monotonic()
    try:
        with pytest.raises(ListenerError, match="ZeroDivisionError"):
            listener.wait(lambda received: False, timeout=30)
    finally:
        sender.join()
    assert 0.3 <= time.monotonic() - start < 5


def test_a_busy_port_is_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ListenerError) as raised:
            Listener("127.0.0.1", port).start()
    assert "\n" not in str(raised.value)
    assert "in use" in str(raised.value)
    assert capfd.readouterr().err == ""


def test_a_handler_error_is_a_suite_error_in_a_run(tmp_path: Path) -> None:
    """A run whose listener fails: every pbx-events case is the suite's ``error``, naming it."""
    run = run_suite(
        ["-p", "tests.listener_bug", "--events-timeout", "5"],
        tmp_path / "report",
        paths=("conformance/roles/pbx_events",),
    )
    cases = run.results["cases"]
    assert cases, run.stdout + run.stderr
    assert {c["verdict"] for c in cases} == {"error"}, run.stdout
    assert all("a bug planted in the listener" in c["detail"] for c in cases)
    assert all("ListenerError" in c["detail"] for c in cases)
    assert run.returncode == 3, run.stdout
