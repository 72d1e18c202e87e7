"""``Lines``: a call_back waits for the calls placed before it to end, and a PBX that never
says when calls end costs one wait, not one per call_back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.sut.calls import Lines
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
