"""Playing calls: each call's steps (plans.py) in the background, its notifications
delivered (delivery.py) by a small, bounded pool of workers.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from conformance.reference.pbx.delivery import Notifier
from conformance.reference.pbx.log import now_iso
from conformance.reference.pbx.plans import Scenario, Step, notification
from conformance.reference.pbx.state import Registry
from conformance.spec.lifecycle import CallType

WORKERS = 8
MAX_ACTIVE = 64  # calls queued or playing; more are refused
MAX_KEPT = 2000  # finished calls remembered (get_record, admin)


class CapacityError(RuntimeError):
    """Too many calls in progress."""


@dataclass
class Call:
    """One call in progress or finished, as the admin API shows it."""

    session_id: str
    client_id: str
    type: CallType
    scenario: str
    recorded: bool
    states: list[str]
    started: str = field(default_factory=now_iso)
    finished: bool = False
    aborted: bool = False
    adopted: bool = False  # placed elsewhere, only known here (Pbx.adopt_call)
    #: The call has ended: set as its ``disconnected`` is sent, before the CRM has it --
    #: a CRM that asks get_record while that notification is delivered gets the recording.
    ended: bool = False
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "notifications": list(self.notifications)}


class CallEngine:
    """Plays calls in the background; at most ``MAX_ACTIVE`` calls in progress.

    A call's steps are played one after another, each after its wait:

    * a step whose notification would not be sent anyway (``Notifier.skipped``:
      the service or call_events is off, no address) cannot block, so it is
      played at once by the thread that has the call in hand;
    * a step with a delivery goes to a fixed pool of ``WORKERS`` threads, and
      the worker goes on with the steps due right after it;
    * a wait is kept by one timer thread, which hands the step on when it is due.

    So deliveries never block a request, a waiting call holds no thread, and a
    call with nothing to send costs no thread switch at all.
    """

    def __init__(self, registry: Registry, notifier: Notifier) -> None:
        self.registry = registry
        self.notifier = notifier
        self.scenario = Scenario()
        self._lock = threading.Lock()
        self._calls: OrderedDict[str, Call] = OrderedDict()
        self._active = 0
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pbx-call")
        # Steps waiting for their time: (due, order, call, steps, index of the step).
        self._timers: list[tuple[float, int, Call, list[Step], int]] = []
        self._timers_changed = threading.Condition(threading.Lock())
        self._timer_thread: threading.Thread | None = None  # started with the first wait
        self._order = itertools.count()

    def start(self, client_id: str, kind: CallType, name: str, steps: list[Step]) -> Call:
        """Plan accepted: register the call and play it in the background."""
        with self.registry.lock:
            client = self.registry.get(client_id)
            record = client is not None and client.record_calls
        connects = any(step.state == "connected" for step in steps)
        call = Call(
            session_id=str(uuid.uuid4()),  # opaque (E7); the form of the А.3 example
            client_id=client_id,
            type=kind,
            scenario=name,
            recorded=record and connects,  # only a conversation is recorded
            states=[step.state for step in steps],
        )
        with self._lock:
            if self._stop.is_set():
                raise CapacityError("the emulator is stopping")
            if self._active >= MAX_ACTIVE:
                raise CapacityError(f"{MAX_ACTIVE} calls are in progress already")
            self._active += 1
            self._calls[call.session_id] = call
            self._forget_oldest()
        self._play(call, steps)
        return call

    def adopt(self, client_id: str, session_id: str, *, finished: bool, recorded: bool) -> Call:
        """Know a call placed elsewhere: nothing is played, sent or timed. Adopting a
        session again updates it; one of this engine's own calls is a ``ValueError``."""
        if not isinstance(session_id, str) or not session_id:
            raise ValueError("session_id: expected a non-empty string")
        call = Call(
            session_id=session_id,
            client_id=client_id,
            type="incoming",
            scenario="adopted",
            recorded=recorded,
            states=[],
            finished=finished,
            adopted=True,
        )
        with self._lock:
            known = self._calls.get(session_id)
            if known is not None and not known.adopted:
                raise ValueError(f"session_id {session_id!r} is a call the emulator placed")
            self._calls.pop(session_id, None)
            self._calls[session_id] = call
            self._forget_oldest()
        return call

    def _forget_oldest(self) -> None:
        """Keep at most ``MAX_KEPT`` calls (under ``_lock``): the oldest finished or
        adopted ones go first; calls in progress (at most ``MAX_ACTIVE``) stay."""
        while len(self._calls) > MAX_KEPT:
            gone = next((sid for sid, c in self._calls.items() if c.finished or c.adopted), None)
            if gone is None:
                break
            del self._calls[gone]

    def _play(self, call: Call, steps: list[Step]) -> None:
        """Play ``call`` from its first step; returns as soon as the call waits or
        has a delivery to make (the timer and the pool take it from there)."""
        self._advance(call, steps, 0)

    def _advance(
        self,
        call: Call,
        steps: list[Step],
        index: int,
        waited: bool = False,
        on_worker: bool = False,
    ) -> None:
        """Play ``steps[index:]`` in this thread while they are due and allowed here
        (deliveries only ``on_worker``); hand the rest on, or end the call."""
        try:
            while index < len(steps):
                if self._stop.is_set():
                    call.aborted = True
                    break
                step = steps[index]
                if step.after_ms and not waited:
                    self._wait(call, steps, index, step.after_ms / 1000)
                    return
                waited = False
                if step.state == "disconnected":
                    call.ended = True
                if on_worker:
                    note = notification(step, call.type, call.session_id, call.recorded)
                    delivery = self.notifier.send(call.client_id, note)
                else:
                    skipped = self.notifier.skipped(call.client_id)
                    if skipped is None:  # a delivery: the pool's work
                        self._pool.submit(self._advance, call, steps, index, True, True)
                        return
                    note = notification(step, call.type, call.session_id, call.recorded)
                    delivery = skipped
                call.notifications.append({"body": note, **delivery.to_json()})
                index += 1
        except Exception as exc:  # noqa: BLE001 - a call's thread must survive anything
            call.aborted = True
            if not (isinstance(exc, RuntimeError) and self._stop.is_set()):  # not the pool's end
                call.notifications.append({"error": f"internal error: {type(exc).__name__}: {exc}"})
        self._finish(call)

    def _finish(self, call: Call) -> None:
        with self._lock:
            call.finished = True
            self._active -= 1

    def _wait(self, call: Call, steps: list[Step], index: int, seconds: float) -> None:
        """Give the step to the timer thread, due in ``seconds``."""
        with self._timers_changed:
            if self._stop.is_set():  # the timer thread is gone or going
                call.aborted = True
                self._finish(call)
                return
            if self._timer_thread is None:
                thread = threading.Thread(
                    target=self._keep_time, name="pbx-call-timer", daemon=True
                )
                thread.start()  # it waits for this lock before it looks at the timers
                self._timer_thread = thread
            due = (time.monotonic() + seconds, next(self._order), call, steps, index)
            heapq.heappush(self._timers, due)
            if self._timers[0] is due:
                self._timers_changed.notify()

    def _keep_time(self) -> None:
        """The timer thread: each step whose wait is over goes on (``_advance``)."""
        while True:
            with self._timers_changed:
                while not self._stop.is_set():
                    now = time.monotonic()
                    if self._timers and self._timers[0][0] <= now:
                        break
                    self._timers_changed.wait(self._timers[0][0] - now if self._timers else None)
                if self._stop.is_set():
                    waiting, self._timers = self._timers, []
                    break
                _, _, call, steps, index = heapq.heappop(self._timers)
            self._advance(call, steps, index, waited=True)
        for _, _, call, _, _ in waiting:  # stopping: the calls end at their next step
            call.aborted = True
            self._finish(call)

    def get(self, session_id: str) -> Call | None:
        with self._lock:
            return self._calls.get(session_id)

    def of_client(self, client_id: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls.values() if c.client_id == client_id]

    def idle(self) -> bool:
        with self._lock:
            return self._active == 0

    def shutdown(self) -> None:
        """Stop every call at its next step and wait (bounded) for the workers."""
        with self._timers_changed:
            self._stop.set()
            self._timers_changed.notify_all()
            timer = self._timer_thread
        if timer is not None:
            timer.join(timeout=5)
        # Deliveries in progress end within their timeout; queued ones see the stop at once.
