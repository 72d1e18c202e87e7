"""What a call says: its steps and their notifications (Table А.2, the scenario of А.3).

A call is planned as a list of steps -- wait, then send one ``call_events``
notification. The table of spec/lifecycle.py decides what a call says: its
states and who is on each end at each (``lifecycle.stages``), and which fields
each notification carries (``lifecycle.carries``, Table А.2's "Устанавливается
только для ..."). How long each wait is, and why a call ends, are the
emulator's (``Scenario``; the reasons, P9).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from conformance.reference.pbx.values import ConfigError, is_e164
from conformance.spec import examples, lifecycle
from conformance.spec.lifecycle import CallType, Party, State

if TYPE_CHECKING:
    from conformance.reference.pbx.state import Client

MAX_STEP_MS = 10_000
DEFAULT_CALLER = "+74951234567"  # the caller of the guide's А.2 examples
DEFAULT_CALLEE = "+74991234567"  # the number dialled in the guide's А.2 examples

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


@dataclass(frozen=True)
class Parties:
    """Who takes part: the caller, the number dialled, who answers, who takes a transfer."""

    caller: Party
    dialled: Party
    answers: Party
    transfer: Party


def _plan(
    kind: CallType,
    name: str,
    parties: Parties,
    waits: Mapping[lifecycle.Moment, int],
    reasons: Mapping[lifecycle.Moment, str],
) -> list[Step]:
    """The steps of a ``kind`` call of ``lifecycle.SCENARIOS[name]``: its states and who is
    on each end at each, from ``lifecycle.stages``; the wait before each moment (ms) and
    why the call ends, from ``waits`` and ``reasons``."""
    caller, callee = parties.caller, parties.dialled
    steps: list[Step] = []
    for stage in lifecycle.stages(kind, name):
        party = parties.answers if stage.moment == "answered" else parties.transfer
        if stage.takes_over == "caller":
            caller = party
        elif stage.takes_over == "callee":
            callee = party
        steps.append(
            Step(
                waits.get(stage.moment, 0),
                stage.state,
                caller,
                callee,
                reasons.get(stage.moment),
            )
        )
    return steps


def call_back_plan(user: Party, number: str, scenario: Scenario) -> list[Step]:
    """А.3: the user's leg rings and answers, the announcement plays, the callee's
    leg rings and answers, they talk, someone hangs up -- one outbound call, answered;
    or it ends before the callee answers -- one outbound call, missed."""
    external = Party(number)
    parties = Parties(user, external, external, user)  # nobody takes a call_back over
    ring, announcement = scenario.ring_ms, scenario.announcement_ms
    outcome = scenario.call_back_outcome
    if outcome == "answered":
        hangup = CALLER_HUNG_UP if scenario.hangup_by == "user" else CALLEE_HUNG_UP
        waits: dict[lifecycle.Moment, int] = {
            "answered": ring + announcement + ring,
            "ended": scenario.talk_ms,
        }
        return _plan("outbound", "answered", parties, waits, {"ended": hangup})
    wait, reason = {
        "user_rejects": (ring, REJECTED),
        "user_no_answer": (ring, NO_ANSWER),
        "user_hangs_up": (ring + announcement, CALLER_HUNG_UP),
        "callee_busy": (ring + announcement, BUSY),
        "callee_no_answer": (ring + announcement + ring, NO_ANSWER),
    }[outcome]
    return _plan("outbound", "missed", parties, {"missed": wait}, {"missed": reason})


def call_plan(kind: CallType, name: str, parties: Parties, scenario: Scenario) -> list[Step]:
    """A call of ``lifecycle.SCENARIOS[name]`` (answered, missed, transferred), triggered
    through the admin API: a leg rings before it is answered or given up, a party talks
    before the call is handed on or ends, and the caller hangs up."""
    waits: dict[lifecycle.Moment, int] = {
        "answered": scenario.ring_ms,
        "transferred": scenario.talk_ms,
        "ended": scenario.talk_ms,
        "missed": scenario.ring_ms,
    }
    return _plan(kind, name, parties, waits, {"ended": CALLER_HUNG_UP, "missed": NO_ANSWER})


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


def external_party(value: Any, default: str, name: str) -> Party:
    number = default if value is None else value
    if not is_e164(number):
        raise ConfigError(f"{name}: expected an E.164 number such as +74951234567")
    return Party(str(number))


def triggered_parties(client: Client, kind: CallType, body: dict[str, Any]) -> Parties:
    """Who takes part in a call triggered through the admin API (``body``'s PINs and
    numbers); defaults: the domain's users in PIN order, the numbers of the А.2 examples."""
    known = sorted(client.users, key=int)

    def user(name: str, index: int) -> Party:
        pin = body.get(name)
        pin = known[index % len(known)] if pin is None else str(pin)
        uri = client.user_by_pin(pin)
        if uri is None:
            raise ConfigError(f"{name}: no user with PIN {pin!r} in the domain")
        return Party(uri, int(pin))

    unknown = sorted(
        set(body)
        - {"type", "scenario", "from_number", "request_number", "from_pin", "request_pin"}
        - {"transfer_pin"}
    )
    if unknown:
        raise ConfigError(f"unknown call parameter {unknown[0]!r}")
    if kind == "incoming":
        return Parties(
            caller=external_party(body.get("from_number"), DEFAULT_CALLER, "from_number"),
            dialled=external_party(
                body.get("request_number"), client.domain_number, "request_number"
            ),
            answers=user("request_pin", 0),
            transfer=user("transfer_pin", 1),
        )
    caller = user("from_pin", 0)
    if kind == "internal":
        callee = user("request_pin", 1)
        return Parties(caller, callee, callee, user("transfer_pin", 2))
    external = external_party(body.get("request_number"), DEFAULT_CALLEE, "request_number")
    return Parties(caller, external, external, user("transfer_pin", 1))
