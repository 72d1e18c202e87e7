"""The notifications of one call (Table А.2), as a table.

Everything that decides which notifications a call produces, in which order
and with which fields, lives here; the rules on fields come from the schema's
``x-only-for`` annotations (the guide's "Устанавливается только для ...").

    None --new--> new --connected--> connected --connected--> connected (transfer)
                   |                     |
                   +----disconnected-----+--disconnected--> disconnected (final)

A missed call is new -> disconnected; a transfer adds a ``connected`` for the
next party with the same ``session_id`` (А.2, session_id).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from hypothesis import strategies as st

from conformance.spec import schemas
from conformance.spec.generate import compiler, values

CallType = Literal["incoming", "outbound", "internal"]
State = Literal["new", "connected", "disconnected"]
CALL_TYPES: tuple[CallType, ...] = ("incoming", "outbound", "internal")
STATES: tuple[State, ...] = ("new", "connected", "disconnected")

TRANSITIONS: dict[State | None, frozenset[State]] = {
    None: frozenset({"new"}),
    "new": frozenset({"connected", "disconnected"}),
    "connected": frozenset({"connected", "disconnected"}),
    "disconnected": frozenset(),
}

SCENARIOS: dict[str, tuple[State, ...]] = {
    "answered": ("new", "connected", "disconnected"),
    "missed": ("new", "disconnected"),
    "transferred": ("new", "connected", "connected", "disconnected"),
}

#: Who is on each end of a call of each type: "external" is a number outside
#: the domain (E.164), "user" a domain user (SIP-URI and PIN), "domain" the
#: domain's own published number that an incoming call dials (E.164).
PARTIES: dict[CallType, tuple[str, str]] = {
    "incoming": ("external", "domain"),
    "outbound": ("user", "external"),
    "internal": ("user", "user"),
}

#: What a notification says happened, by where its state stands in the call's life:
#: the call was placed (``new``), answered (its first ``connected``: "установка
#: акустического соединения"), handed to another party (a later ``connected``, with
#: the same ``session_id``), or it ended after a conversation (``disconnected``
#: after a ``connected``) or without one (a missed call's ``disconnected``).
Moment = Literal["placed", "answered", "transferred", "ended", "missed"]
End = Literal["caller", "callee"]

#: Which end of a call a new party takes, by call type and moment; a new party is
#: always a domain user. An incoming call is addressed to the domain's number and
#: answered by a user, then handed to another user; an internal call is answered by
#: the user it dialled and handed to another one; an outbound call is answered by the
#: number dialled and handed over to another user of the domain, who then holds it.
TAKES_OVER: dict[CallType, dict[Moment, End]] = {
    "incoming": {"answered": "callee", "transferred": "callee"},
    "internal": {"transferred": "callee"},
    "outbound": {"transferred": "caller"},
}


@dataclass(frozen=True)
class Stage:
    """One notification of a call: its state, what happened, and which end of the call
    a new party holds from now on (None: both ends are who they were)."""

    state: State
    moment: Moment
    takes_over: End | None


@cache
def stages(call_type: CallType, scenario: str) -> tuple[Stage, ...]:
    """The notifications of one ``call_type`` call of ``SCENARIOS[scenario]``, in order.

    Whoever makes up or plays calls (``calls()`` below, the reference PBX emulator)
    takes from here which states a call goes through and who is on each end at each:
    at the start the ends of ``PARTIES``, then the changes of ``TAKES_OVER``.
    """
    out: list[Stage] = []
    answered = False
    for state in SCENARIOS[scenario]:
        moment: Moment
        if state == "new":
            moment = "placed"
        elif state == "connected":
            moment = "transferred" if answered else "answered"
            answered = True
        else:
            moment = "ended" if answered else "missed"
        out.append(Stage(state, moment, TAKES_OVER[call_type].get(moment)))
    return tuple(out)


def is_legal(states: Sequence[State]) -> bool:
    """Whether ``states`` is a complete, ordered life of one call."""
    current: State | None = None
    for state in states:
        if state not in TRANSITIONS[current]:
            return False
        current = state
    return current == "disconnected"


#: Where each state stands in a call's life: a state never follows one of higher rank.
RANK: dict[State, int] = {"new": 0, "connected": 1, "disconnected": 2}


def is_legal_life(states: Sequence[State]) -> bool:
    """Whether ``states``, in some order, are a complete life of one call: one ``new``,
    any number of ``connected`` and one ``disconnected`` (the order is not judged)."""
    return is_legal(sorted(states, key=RANK.__getitem__))


def carries(field: str, state: str, call_type: str) -> bool:
    """Whether a notification of ``state`` for a ``call_type`` call sets ``field`` (А.2)."""
    rule = schemas.only_for("call_events").get(field)
    if rule is None:
        return True
    return state in rule.get("state", [state]) and call_type in rule.get("type", [call_type])


@dataclass(frozen=True)
class Party:
    number: str
    pin: int | None = None


#: How many distinct numbers of each kind calls draw from.
POOL_SIZE = 64


@cache
def pool(ref: str) -> tuple[str, ...]:
    """``POOL_SIZE`` values of the schema's ``ref`` (e.g. ``#/$defs/sip_uri``), drawn once.

    A SIP-URI takes some twenty draws (labels, optional groups, IPv4 octets);
    drawing calls from a pool costs one. The pool is drawn from the schema with
    a fixed seed, so it is the same on every run; ``--seed`` still varies which
    numbers a call gets and everything else about it. Number shapes themselves
    are the subject of dedicated cases and of the schema self-tests.
    """
    gen = compiler("call_events", "guide", canonical=True)
    return tuple(dict.fromkeys(values(gen.compile({"$ref": ref}), seed_value=0, count=POOL_SIZE)))


@cache
def _party(role: str) -> st.SearchStrategy[Party]:
    gen = compiler("call_events", "guide", canonical=True)
    if role in ("external", "domain"):
        return st.builds(Party, st.sampled_from(pool("#/$defs/e164")))
    return st.builds(Party, st.sampled_from(pool("#/$defs/sip_uri")), gen.property("request_pin"))


def _note(
    draw: st.DrawFn,
    *,
    state: str,
    kind: str,
    caller: Party,
    callee: Party,
    session_id: str,
    clock: int,
) -> dict[str, Any]:
    gen = compiler("call_events", "guide", canonical=True)
    note: dict[str, Any] = {
        "state": state,
        "type": kind,
        "session_id": session_id,
        "timestamp": str(clock),
        "from_number": caller.number,
        "request_number": callee.number,
    }
    present = draw(_PRESENT)  # one draw: which of the optional fields are set
    for bit, field in enumerate(_OPTIONAL):
        if not (carries(field, state, kind) and present >> bit & 1):
            continue
        if field in ("from_pin", "request_pin"):
            party = caller if field == "from_pin" else callee
            if party.pin is not None:  # the domain's number and outside numbers have none
                note[field] = party.pin
        else:
            note[field] = draw(gen.property(field))
    return note


_OPTIONAL = ("from_pin", "request_pin", "disconnect_reason", "is_record")
_PRESENT = st.integers(0, 2 ** len(_OPTIONAL) - 1)

#: The clock of the calls the suite makes up: they began in the run's last hour,
#: in Unix seconds. A CRM may refuse notifications far from its own clock (replay
#: protection; the PBX side grades a day off as a failure, D26), so made-up calls
#: are never dated years away. Hypothesis draws the offset, so a seed still gives
#: the same calls, shifted to the run's hour.
CLOCK_BASE = int(time.time()) - 3600
#: A moment of a made-up call when one is needed without drawing (ten minutes ago).
RECENT = CLOCK_BASE + 3000
_CLOCK = st.integers(0, 2400).map(lambda offset: CLOCK_BASE + offset)


def _ready() -> None:
    """Draw the number pools now: strategies are built outside Hypothesis' draws,
    while a pool drawn during one would nest one Hypothesis run inside another."""
    pool("#/$defs/e164")
    pool("#/$defs/sip_uri")


def calls(
    call_type: CallType | None = None, scenario: str | None = None
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """One call's notifications, in order, canonical shapes under the guide profile."""
    _ready()
    return _calls(call_type, scenario)


@st.composite
def _calls(
    draw: st.DrawFn,
    call_type: CallType | None = None,
    scenario: str | None = None,
) -> list[dict[str, Any]]:
    """One call's notifications, in order, canonical shapes under the guide profile."""
    kind: CallType = draw(st.sampled_from(CALL_TYPES)) if call_type is None else call_type
    name = scenario or draw(st.sampled_from(sorted(SCENARIOS)))
    caller_role, callee_role = PARTIES[kind]
    caller = draw(_party(caller_role))
    callee = draw(_party(callee_role))
    session_id = draw(compiler("call_events", "guide").property("session_id"))
    clock = draw(_CLOCK)
    out: list[dict[str, Any]] = []
    for stage in stages(kind, name):
        # Unix seconds: the events of a short call often share one (the guide's examples do).
        clock += draw(st.integers(0, 120))
        if stage.takes_over == "callee":
            callee = draw(_party("user"))  # who answered (А.2 example), or took the transfer
        elif stage.takes_over == "caller":
            caller = draw(_party("user"))  # the user who now holds the outbound call
        out.append(
            _note(
                draw,
                state=stage.state,
                kind=kind,
                caller=caller,
                callee=callee,
                session_id=session_id,
                clock=clock,
            )
        )
    return out


def notifications() -> st.SearchStrategy[dict[str, Any]]:
    """One notification of any state and call type (cheaper than drawing a whole call)."""
    _ready()
    return _notifications()


@st.composite
def _notifications(draw: st.DrawFn) -> dict[str, Any]:
    """One notification of any state and call type (cheaper than drawing a whole call)."""
    kind: CallType = draw(st.sampled_from(CALL_TYPES))
    state = draw(st.sampled_from(STATES))
    caller_role, callee_role = PARTIES[kind]
    if state != "new" and kind == "incoming":
        callee_role = "user"
    return _note(
        draw,
        state=state,
        kind=kind,
        caller=draw(_party(caller_role)),
        callee=draw(_party(callee_role)),
        session_id=draw(compiler("call_events", "guide").property("session_id")),
        clock=draw(_CLOCK),
    )


def interleave(
    per_call: Sequence[Sequence[dict[str, Any]]], rng: random.Random
) -> list[dict[str, Any]]:
    """Merge several calls' notifications, each call keeping its own order."""
    queues = [list(c) for c in per_call if c]
    merged: list[dict[str, Any]] = []
    while queues:
        queue = rng.choice(queues)
        merged.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return merged


def several_calls(
    min_size: int = 2, max_size: int = 4
) -> st.SearchStrategy[list[list[dict[str, Any]]]]:
    """Calls in progress at once: each its own session."""
    return st.lists(
        calls(), min_size=min_size, max_size=max_size, unique_by=lambda call: call[0]["session_id"]
    )


def deliveries() -> st.SearchStrategy[list[dict[str, Any]]]:
    """What a PBX may deliver: interleaved calls, some notifications twice, some late."""
    _ready()
    return _deliveries()


@st.composite
def _deliveries(draw: st.DrawFn) -> list[dict[str, Any]]:
    """What a PBX may deliver: interleaved calls, some notifications twice, some late."""
    per_call = draw(several_calls(min_size=1))
    rng = random.Random(draw(st.integers(0, 2**32)))
    merged = interleave(per_call, rng)
    for _ in range(draw(st.integers(0, 2))):
        merged.insert(rng.randrange(len(merged) + 1), rng.choice(merged))  # a retry
    if draw(st.booleans()) and len(merged) > 1:
        i = rng.randrange(len(merged) - 1)
        merged[i], merged[i + 1] = merged[i + 1], merged[i]  # a late delivery
    return merged
