"""What every case of the pbx-events role shares (the suite as the CRM's webhook)."""

from __future__ import annotations

import functools

import pytest

from conformance.grading.verdict import case
from conformance.spec.lifecycle import STATES
from conformance.sut.calls import PlacedCall
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener, Received

ROLE = "pbx-events"

#: ``@events_case(id, section=..., title=..., requirement=...)``
events_case = functools.partial(case, role=ROLE)


def judged(
    calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> list[PlacedCall]:
    """The placed calls whose ``call_back`` succeeded, their exchanges cited in the wire log.

    A refused ``call_back`` is the pbx-api role's finding; with no call to
    follow, this role has nothing to judge and skips. A listener that failed on
    a request is the suite's own fault: every case says so (``Listener.check``).
    """
    listener.check()
    ok = [c for c in calls if c.ok]
    for call in calls:
        wire_log.extend(call.exchanges())
    if not ok:
        pytest.skip("no call_back succeeded, so no call's notifications can be judged")
    return ok


def each(calls: list[PlacedCall]) -> list[tuple[PlacedCall, Received]]:
    """Every notification of ``calls``; skips when there is none (nothing to judge)."""
    pairs = [(call, n) for call in calls for n in call.notifications]
    if not pairs:
        pytest.skip("no notification of the placed calls arrived (events.arrival says why)")
    return pairs


def lifecycle_states(call: PlacedCall) -> list[Received]:
    """The call's notifications of the guide's states (later editions add others)."""
    return [n for n in call.notifications if n.state in STATES]


def where(call: PlacedCall, n: Received) -> str:
    return f"{n.state} of {call.session_id} ({n.show()})"
