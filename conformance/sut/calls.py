"""Calls the suite places through ``call_back`` and the notifications they cause.

Placing is not judging: ``place_calls`` records what happened (the answer,
the session id it gave, every notification that arrived with that id, and
what arrived with other ids) and the pbx-events cases judge it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.grading import answers
from conformance.sut.drivers import PbxApi
from conformance.transport.budget import DEADLINE
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener, Received
from conformance.transport.waits import waiting

#: After a call's ``disconnected``, wait this share of ``--events-timeout`` (at most
#: ``GRACE_MAX_S``) for notifications delivered out of order.
GRACE_SHARE = 0.1
GRACE_MAX_S = 0.5
#: After a call's ``disconnected``, this long before the next ``call_back`` (``Lines``).
LINE_GRACE_S = 0.1


@dataclass
class PlacedCall:
    request: dict[str, Any]
    answer: Exchange
    placed_at: float  # wall clock, seconds, just before the request was sent
    session_id: str | None = None  # from the answer, when it succeeded
    notifications: list[Received] = field(default_factory=list)
    finished: bool = False  # a ``disconnected`` arrived within the timeout
    waited_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.session_id is not None

    @property
    def recorded(self) -> bool | None:
        """What the call's last ``is_record`` says (True/False), None when it says nothing.

        Production shapes ("true"/"false") count as their meaning.
        """
        for n in reversed(self.notifications):
            value = n.doc.get("is_record") if isinstance(n.doc, dict) else None
            if value in (True, "true"):
                return True
            if value in (False, "false"):
                return False
        return None

    def exchanges(self) -> list[Exchange]:
        """The call_back exchange and the notifications, in arrival order, for a wire log.

        The same exchanges whichever case asks: each happened once, and counts once.
        """
        return [self.answer, *(n.exchange for n in self.notifications)]

    def describe(self) -> str:
        states = ", ".join(str(n.state) for n in self.notifications) or "none"
        return f"call {self.session_id} ({', '.join(sorted(self.request))}): states {states}"


class Lines:
    """The calls the suite placed and has not seen end: the next ``call_back`` waits.

    While the user is still in a call a PBX may refuse another ``call_back`` as
    busy -- a forged one as readily as a correct one. So with a listener, every
    ``call_back`` is sent only once the calls placed before have ended
    (``disconnected`` arrived), or ``--events-timeout`` passed (a call that never
    ends is waited for once). Without a listener the suite cannot know.
    """

    def __init__(self, listener: Listener | None, timeout: float) -> None:
        self.listener = listener
        self.timeout = timeout
        self.open: set[str] = set()
        #: Set once a call was waited for in vain: this PBX does not say when calls
        #: end, so no later call_back waits (the run stays bounded).
        self.blind = False
        #: Every wait on this PBX's notifications draws on it (``EventsBudget``).
        self.budget = EventsBudget(timeout)
        self._lock = threading.Lock()

    def placed(self, session_id: str) -> None:
        with self._lock:
            self.open.add(session_id)

    def wait_free(self) -> None:
        with self._lock:
            pending = set(self.open)
        if self.listener is None or self.blind or not pending:
            return
        what = f"the end of {_calls(pending)} placed before the next call_back"
        ended = self.budget.wait(self.listener, _done(pending), what)
        time.sleep(LINE_GRACE_S)  # the disconnected may come just before the line is free
        with self._lock:
            self.open -= pending  # ended, or waited for once: not again
            self.blind = self.blind or not ended


class EventsBudget:
    """One ``--events-timeout`` for all of a run's waits on a PBX's notifications.

    Each wait lasts until what it awaits arrived, at most ``--events-timeout``; a
    wait that ends in vain spends its length, and later waits get only what is
    left. A PBX that never sends ``disconnected`` so costs one ``--events-timeout``
    per run, not one per call waited on (issue 13). Every wait also ends at the
    run's ``--max-duration`` (``DEADLINE``).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.spent = 0.0
        self._lock = threading.Lock()

    def left(self) -> float:
        with self._lock:
            return DEADLINE.cap(max(0.0, self.timeout - self.spent))

    def wait(self, listener: Listener, done: Callable[[list[Received]], bool], what: str) -> bool:
        """Wait until ``done`` holds for what the listener received; whether it did."""
        timeout = self.left()
        start = time.monotonic()
        with awaiting(what, listener, timeout):
            received = listener.wait(done, timeout)
        ended = done(received)
        if not ended:
            with self._lock:
                self.spent += time.monotonic() - start
        return ended


def over_time(what: str) -> None:
    """Skip the case when the run's ``--max-duration`` cut the wait for ``what`` short:
    what did not arrive then says nothing of the target."""
    if DEADLINE.passed():
        pytest.skip(f"inconclusive: {DEADLINE.reason()} while waiting for {what}")


def _done(sessions: set[str]) -> Any:
    def done(received: list[Received]) -> bool:
        ended = {r.session_id for r in received if r.state == "disconnected"}
        return sessions <= ended

    return done


def _calls(sessions: set[str]) -> str:
    return f"{len(sessions)} call{'s' if len(sessions) != 1 else ''}"


def awaiting(what: str, listener: Listener, timeout: float) -> AbstractContextManager[Any]:
    """A wait for a PBX's notifications, as the progress line names it."""
    return waiting(f"{what} (disconnected at {listener.url}, --events-timeout)", timeout)


def place(pbx: PbxApi, requests: list[dict[str, Any]]) -> list[PlacedCall]:
    """Send every ``call_back`` in ``requests``; keep the session id of each success."""
    calls: list[PlacedCall] = []
    for doc in requests:
        placed_at = time.time()
        ex = pbx.call_back(doc)
        calls.append(PlacedCall(doc, ex, placed_at, session_id=answers.session_of(ex)))
    return calls


def await_calls(budget: EventsBudget, listener: Listener, calls: list[PlacedCall]) -> None:
    """Wait (at most what is left of the run's ``--events-timeout``: ``budget``) until
    every placed call's ``disconnected`` arrived.

    Notifications are collected from the listener's whole record, so the ones
    that arrived before the wait began (even before ``call_back`` answered,
    which the guide allows) count.
    """
    sessions = {c.session_id for c in calls if c.session_id}
    start = time.monotonic()
    budget.wait(listener, _done(sessions), f"the notifications of {_calls(sessions)}")
    waited = time.monotonic() - start
    over_time(f"the notifications of {_calls(sessions)}")
    time.sleep(min(GRACE_MAX_S, budget.timeout * GRACE_SHARE))
    received = listener.snapshot()
    for call in calls:
        call.waited_s = waited
        if call.session_id is not None:
            call.notifications = [r for r in received if r.session_id == call.session_id]
            call.finished = any(n.state == "disconnected" for n in call.notifications)


def strangers(listener: Listener, calls: list[PlacedCall], since: float) -> list[Received]:
    """What arrived since ``since`` that belongs to none of ``calls``."""
    ours = {c.session_id for c in calls}
    return [r for r in listener.snapshot() if r.at >= since and r.session_id not in ours]


#: How long to keep asking for a recording that may still be being prepared, at most.
RECORD_WAIT_MAX_S = 30.0


def fetch_link(
    pbx: PbxApi, session_id: str, *, wait: float, transports: tuple[str, ...] = PbxApi.TRANSPORTS
) -> tuple[str | None, list[Exchange]]:
    """Ask ``get_record`` for a link by each transport until one succeeds, or ``wait`` passes.

    Recordings are often prepared after the call ends: refusals are retried
    with a growing pause (0.2 s, doubling, at most 2 s). Returns the url (None
    when every answer refused) and the last answer of each transport.
    """
    budget = DEADLINE.cap(min(wait, RECORD_WAIT_MAX_S))
    with waiting(f"a recording of call {session_id} (get_record)", budget):
        url, last = _fetch_link(pbx, session_id, time.monotonic() + budget, transports)
    if url is None:
        over_time(f"a recording of call {session_id}")
    return url, last


def _fetch_link(
    pbx: PbxApi, session_id: str, deadline: float, transports: tuple[str, ...]
) -> tuple[str | None, list[Exchange]]:
    pause = 0.2
    asked = list(transports)
    last: dict[str, Exchange] = {}
    while True:
        for transport in list(asked):
            ex = last[transport] = pbx.get_record(session_id, transport=transport)
            answer = answers.parse(ex)
            if answers.outcome(answer, "url") == "success":
                url = answer.value("url")
                return (url if isinstance(url, str) else None), list(last.values())
            if ex.status is None or ex.status >= 500 or ex.status == 405:
                # Not served, or broken: judged by the caller, not asked again.
                asked.remove(transport)
        if not asked or time.monotonic() + pause > deadline:
            return None, list(last.values())
        time.sleep(pause)
        pause = min(pause * 2, 2.0)
