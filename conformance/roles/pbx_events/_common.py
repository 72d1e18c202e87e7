"""What every case of the pbx-events role shares (the suite as the CRM's webhook)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from conformance.engine.calls import PlacedCall
from conformance.engine.client import Exchange
from conformance.engine.listener import Listener, Received
from conformance.engine.verdict import case

ROLE = "pbx-events"

#: ``@events_case(id, section=..., title=..., requirement=...)``
events_case = functools.partial(case, role=ROLE)


def judged(
    calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> list[PlacedCall]:
    """The placed calls whose ``call_back`` succeeded, their exchanges put in the wire log.

    A refused ``call_back`` is the pbx-api role's finding; with no call to
    follow, this role has nothing to judge and skips.
    """
    ok = [c for c in calls if c.ok]
    for call in calls:
        wire_log.extend(call.exchanges(listener.url))
    if not ok:
        pytest.skip("no call_back succeeded, so no call's notifications can be judged")
    return ok


def each(calls: list[PlacedCall]) -> Iterator[tuple[PlacedCall, Received]]:
    for call in calls:
        for n in call.notifications:
            yield call, n


def where(call: PlacedCall, n: Received) -> str:
    return f"{n.state} of {call.session_id} ({n.show()})"
