"""Calls and their notifications (Table А.2, the scenario of А.3).

A call is planned as a list of steps -- wait, then send one ``call_events``
notification -- and played in the background by a small, bounded pool of
workers. Which fields a notification carries is decided by
``lifecycle.carries`` (Table А.2's "Устанавливается только для ..."), the
order of states by ``lifecycle.SCENARIOS``.

Delivery: the body is serialised once, signed over those exact bytes with the
client's key (1.4.1), POSTed to ``{external address}/call_events`` with the
client's timeout (3.2.1), and logged (3.2.3). A failed delivery is logged and
the call goes on: the guide promises no retries (E12).
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import httpx

from conformance.reference.pbx import tls
from conformance.reference.pbx.state import (
    ConfigError,
    Registry,
    RequestLog,
    clip,
    is_e164,
    monotonic,
    now_iso,
)
from conformance.spec import examples, lifecycle, signing
from conformance.spec.lifecycle import CallType, Party, State

MAX_STEP_MS = 10_000
MAX_ANSWER = 64 * 1024  # bytes of a CRM's answer read and logged
WORKERS = 8
MAX_ACTIVE = 64  # calls queued or playing; more are refused
MAX_KEPT = 2000  # finished calls remembered (get_record, admin)

#: Disconnect reasons. Only the first is printed in the guide (А.2 example);
#: the others are ours, in the same style.
CALLER_HUNG_UP = "Отбой вызывающего абонента"
CALLEE_HUNG_UP = "Отбой вызываемого абонента"
BUSY = "Абонент занят"
NO_ANSWER = "Нет ответа"
REJECTED = "Вызов отклонён"

CALL_BACK_OUTCOMES = (
    "answered",  # both legs answer, they talk, someone hangs up
    "user_rejects",  # the domain user declines the first leg
    "user_no_answer",  # the domain user does not pick up
    "user_hangs_up",  # the user drops during the announcement (А.3: "если ... не сбросил")
    "callee_busy",  # the second leg is busy
    "callee_no_answer",  # the second leg rings out
)
HANGUP_BY = ("user", "callee")


class CapacityError(RuntimeError):
    """Too many calls in progress."""


@dataclass(frozen=True)
class Scenario:
    """How calls unfold: step lengths and the outcome of ``call_back`` calls."""

    ring_ms: int = 20  # a leg rings before it is answered, declined or given up
    announcement_ms: int = 20  # «ожидайте соединения со вторым участником разговора»
    talk_ms: int = 30  # a conversation (or one party's part of a transferred call)
    call_back_outcome: str = "answered"
    hangup_by: str = "callee"

    def updated(self, changes: dict[str, Any]) -> Scenario:
        unknown = sorted(set(changes) - set(self.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown scenario setting {unknown[0]!r}")
        for name in ("ring_ms", "announcement_ms", "talk_ms"):
            value = changes.get(name, 0)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= MAX_STEP_MS
            ):
                raise ConfigError(f"{name}: expected whole milliseconds from 0 to {MAX_STEP_MS}")
        if changes.get("call_back_outcome", "answered") not in CALL_BACK_OUTCOMES:
            raise ConfigError(f"call_back_outcome: expected one of {', '.join(CALL_BACK_OUTCOMES)}")
        if changes.get("hangup_by", "user") not in HANGUP_BY:
            raise ConfigError(f"hangup_by: expected one of {', '.join(HANGUP_BY)}")
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Step:
    """Wait ``after_ms``, then announce ``state`` with these parties."""

    after_ms: int
    state: State
    caller: Party
    callee: Party
    reason: str | None = None


def call_back_plan(user: Party, number: str, scenario: Scenario) -> list[Step]:
    """А.3: the user's leg rings and answers, the announcement plays, the callee's
    leg rings and answers, they talk, someone hangs up -- one outbound call."""
    external = Party(number)
    ring, announcement = scenario.ring_ms, scenario.announcement_ms
    new = Step(0, "new", user, external)

    def end(after: int, reason: str) -> list[Step]:
        return [new, Step(after, "disconnected", user, external, reason)]

    outcome = scenario.call_back_outcome
    if outcome == "user_rejects":
        return end(ring, REJECTED)
    if outcome == "user_no_answer":
        return end(ring, NO_ANSWER)
    if outcome == "user_hangs_up":
        return end(ring + announcement, CALLER_HUNG_UP)
    if outcome == "callee_busy":
        return end(ring + announcement, BUSY)
    if outcome == "callee_no_answer":
        return end(ring + announcement + ring, NO_ANSWER)
    reason = CALLER_HUNG_UP if scenario.hangup_by == "user" else CALLEE_HUNG_UP
    return [
        new,
        Step(ring + announcement + ring, "connected", user, external),
        Step(scenario.talk_ms, "disconnected", user, external, reason),
    ]


@dataclass(frozen=True)
class Parties:
    """Who takes part: the caller, the number dialled, who answers, who takes a transfer."""

    caller: Party
    dialled: Party
    answers: Party
    transfer: Party


def call_plan(kind: CallType, name: str, parties: Parties, scenario: Scenario) -> list[Step]:
    """A call of ``lifecycle.SCENARIOS[name]`` (answered, missed, transferred).

    As in ``lifecycle.calls``: an incoming call is first addressed to the
    domain's number and then to the user who answers; a transfer hands an
    incoming or internal call to another callee, an outbound one to another
    caller. Everything else ends with the caller hanging up.
    """
    caller, callee = parties.caller, parties.dialled
    steps = [Step(0, "new", caller, callee)]
    answered = False
    for state in lifecycle.SCENARIOS[name][1:]:
        if state == "connected" and not answered:
            callee, answered = parties.answers, True
            steps.append(Step(scenario.ring_ms, "connected", caller, callee))
        elif state == "connected":
            if kind == "outbound":
                caller = parties.transfer
            else:
                callee = parties.transfer
            steps.append(Step(scenario.talk_ms, "connected", caller, callee))
        elif answered:
            steps.append(Step(scenario.talk_ms, "disconnected", caller, callee, CALLER_HUNG_UP))
        else:
            steps.append(Step(scenario.ring_ms, "disconnected", caller, callee, NO_ANSWER))
    return steps


def notification(
    step: Step, kind: CallType, session_id: str, recorded: bool, clock: float | None = None
) -> dict[str, Any]:
    """One ``call_events`` body: exactly the fields Table А.2 gives this state and type."""
    note: dict[str, Any] = {
        "state": step.state,
        "type": kind,
        "session_id": session_id,
        "timestamp": str(int(time.time() if clock is None else clock)),  # E4, D8
        "from_number": step.caller.number,
        "request_number": step.callee.number,
    }
    optional = {
        "from_pin": step.caller.pin,
        "request_pin": step.callee.pin,
        "disconnect_reason": step.reason,
        "is_record": recorded,
    }
    for name, value in optional.items():
        if value is not None and _carries(name, step.state, kind):
            note[name] = value
    return note


@cache
def _carries(field: str, state: str, call_type: str) -> bool:
    """``lifecycle.carries``, remembered: the schema's rules do not change while running."""
    return lifecycle.carries(field, state, call_type)


def test_notification(state: State, session_id: str) -> dict[str, Any]:
    """3.2.2: the guide's own example for ``state``, with a fresh session and time,
    less what Table А.2 does not give that state (``is_record`` on connected, E6)."""
    sample: dict[str, Any] = examples.value(f"call_events.{state}")
    sample.update(session_id=session_id, timestamp=str(int(time.time())))
    return {
        name: value
        for name, value in sample.items()
        if lifecycle.carries(name, state, str(sample["type"]))
    }


@dataclass
class Delivery:
    """What became of one notification."""

    delivered: bool
    status: int | None = None
    error: str | None = None
    skipped: str | None = None
    log_id: int | None = None
    response: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Notifier:
    """Signs and sends ``call_events`` to a client's external system."""

    def __init__(self, registry: Registry, log: RequestLog) -> None:
        self.registry = registry
        self.log = log

    def skipped(self, client_id: str, *, test: bool = False) -> Delivery | None:
        """What ``send`` would answer right now without sending anything (the service
        or the method is off, no address, no client), or None: it would send."""
        with self.registry.lock:
            client = self.registry.get(client_id)
            if client is None:
                return Delivery(False, skipped="the client was deleted")
            if not test and not client.enabled:
                return Delivery(False, skipped="the service is off (3.1.1)")
            if not test and not client.notifications.get("call_events", True):
                return Delivery(False, skipped="call_events is switched off (3.1.3)")
            if client.external_address is None:
                return Delivery(False, skipped="no external system address (3.1.1)")
        return None

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        """Send now (bounded by the client's timeout). ``test`` notifications (3.2.2)
        go out whatever the service status and the method's switch: debugging
        comes before switching the service on (Appendix В.1)."""
        with self.registry.lock:  # one look at the settings: the checks and what they allow
            skipped = self.skipped(client_id, test=test)
            if skipped is not None:
                return skipped
            client = self.registry.get(client_id)
            url = None if client is None else client.notification_url()
            assert client is not None  # checked under this lock
            assert url is not None
            key, timeout, trusted = client.key, client.timeout, client.external_certificate
        body = json.dumps(note, ensure_ascii=False).encode("utf-8")
        headers = signing.signed_headers(client_id, body, key)
        started = monotonic()
        status: int | None = None
        answer, error = b"", None
        try:
            status, answer = _post(url, body, headers, timeout, tls.client_context(trusted))
        except httpx.TimeoutException:
            error = f"no answer within {timeout:g} s (3.2.1)"
        except (httpx.HTTPError, OSError) as exc:  # refused, TLS, protocol errors
            error = f"{type(exc).__name__}: {exc}"[:500]
        ok = status is not None and 200 <= status < 300
        entry = self.log.add(
            client_id=client_id,
            method="call_events",
            direction="to_crm",
            url=url,
            remote=None,
            request_headers=dict(headers),
            request_body=clip(body),
            status=status,
            response_body=clip(answer),
            error=error,
            elapsed_ms=round((monotonic() - started) * 1000, 1),
            test=test,
        )
        with self.registry.lock:
            found = self.registry.get(client_id)
            if found is not None:
                found.stats.add("call_events", ok, monotonic())
        return Delivery(ok, status, error, None, entry.id, clip(answer))


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, context: Any
) -> tuple[int, bytes]:
    """POST and read at most ``MAX_ANSWER`` bytes of the answer, within one deadline.

    httpx's timeout bounds each connect, write and read; the deadline below
    bounds a body that trickles in, so a delivery never takes much more than
    ``timeout`` (at most one more read).
    """
    deadline = monotonic() + timeout
    with (
        httpx.Client(
            timeout=timeout, verify=context, follow_redirects=False, trust_env=False
        ) as http,
        http.stream("POST", url, content=body, headers=headers) as response,
    ):
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ANSWER:
                break
            if monotonic() > deadline:
                raise httpx.ReadTimeout("the answer trickled past the deadline")
        return response.status_code, b"".join(chunks)[:MAX_ANSWER]


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
            while len(self._calls) > MAX_KEPT:
                oldest = next(iter(self._calls.values()))
                if not oldest.finished:
                    break
                self._calls.popitem(last=False)
        self._play(call, steps)
        return call

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
        self._pool.shutdown(wait=True)


def external_party(value: Any, default: str, name: str) -> Party:
    number = default if value is None else value
    if not is_e164(number):
        raise ConfigError(f"{name}: expected an E.164 number such as +74951234567")
    return Party(str(number))
