"""``Lines``: a call_back waits for the calls placed before it to end, and a PBX that never
says when calls end costs one wait, not one per call_back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.sut.calls import Lines, fetch_link
from conformance.transport.client import Exchange
from conformance.transport.listener import Received


class FakeListener:
    """Answers every wait with what it was given, counting the waits."""

    url = "http://127.0.0.1:9"  # named by the progress line of a long wait

    def __init__(self, received: list[Received]) -> None:
        self.received = received
        self.waits = 0

    def wait(self, done: Callable[[list[Received]], bool], timeout: float) -> list[Received]:
        self.waits += 1
        return list(self.received)


def ended(session_id: str) -> Received:
    doc: dict[str, Any] = {"session_id": session_id, "state": "disconnected"}
    return Received(
        at=0.0, method="POST", path="/call_events", headers=[], body=b"", remote="", doc=doc
    )


def test_a_call_that_ended_is_waited_for_and_forgotten() -> None:
    listener = FakeListener([ended("a")])
    lines = Lines(listener, 0.01)  # type: ignore[arg-type]
    lines.placed("a")
    lines.wait_free()
    lines.wait_free()  # nothing open any more: no second wait
    assert listener.waits == 1
    assert not lines.blind


def test_a_call_that_never_ends_is_waited_for_once() -> None:
    listener = FakeListener([])
    lines = Lines(listener, 0.01)  # type: ignore[arg-type]
    lines.placed("a")
    lines.wait_free()
    assert lines.blind
    lines.placed("b")
    lines.wait_free()
    assert listener.waits == 1


def test_without_a_listener_nothing_waits() -> None:
    lines = Lines(None, 60.0)
    lines.placed("a")
    lines.wait_free()  # returns at once
    assert lines.open == {"a"}


class AnsweringPbx:
    """A PBX driver whose get_record answers ``status`` by one transport and "in progress"
    (409, result 32) by the others, counting the requests."""

    def __init__(self, status: int | None, broken: str) -> None:
        self.status, self.broken, self.asked = status, broken, []

    def get_record(self, session_id: str, *, transport: str) -> Exchange:
        self.asked.append(transport)
        ex = Exchange("POST", "http://pbx/get_record", [], b"")
        if transport == self.broken:
            ex.status = self.status
            ex.error = None if self.status else "no answer within 5 s (--sut-timeout)"
        else:
            ex.status, ex.response_body = 409, b'{"result": 32, "resultMessage": "later"}'
        return ex


@pytest.mark.parametrize("status", [405, 500, 503, None])
def test_a_transport_not_served_or_broken_is_not_asked_again(status: int | None) -> None:
    """fetch_link waits for a recording being prepared, not for a transport that answers
    405, a 5xx or nothing: that one is asked once and judged by the caller."""
    pbx = AnsweringPbx(status, broken="get")
    url, last = fetch_link(pbx, "s-1", wait=0.5, transports=("post", "get"))  # type: ignore[arg-type]
    assert url is None
    assert pbx.asked.count("get") == 1
    assert pbx.asked.count("post") > 1  # still asked while its recording is prepared
    assert [ex.status for ex in last] == [409, status]


def test_when_every_transport_is_broken_the_wait_ends_at_once() -> None:
    pbx = AnsweringPbx(405, broken="post")
    url, last = fetch_link(pbx, "s-1", wait=30, transports=("post",))  # type: ignore[arg-type]
    assert (url, pbx.asked, [ex.status for ex in last]) == (None, ["post"], [405])
