"""Table А.2 from the CRM's side: the life of a call in time -- the order of its states
and the timestamps that tell when each began (E4, E12).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

from conformance.grading.verdict import Finding, Verdict, fail, non_strict
from conformance.roles.pbx_events._common import each, events_case, judged, lifecycle_states, where
from conformance.spec import lifecycle
from conformance.sut.calls import PlacedCall
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener, Received


@dataclass(frozen=True)
class Stamped:
    """One notification of a call, its place in the call's life, in arrival and in time."""

    n: Received
    rank: int  # lifecycle.RANK of its state
    arrived: int  # its place in arrival order
    t: float | None  # its timestamp as Unix seconds (None: unparseable)
    written: float | None  # a date-time without a zone read as UTC: its time as written

    @property
    def raw(self) -> Any:
        return self.n.doc.get("timestamp") if isinstance(self.n.doc, dict) else None


def stamped(n: Received, arrived: int) -> Stamped:
    raw = n.doc.get("timestamp") if isinstance(n.doc, dict) else None
    reading = parse_timestamp(raw)
    written = reading[0] if reading is not None and reading[1] else None
    return Stamped(n, lifecycle.RANK[n.state], arrived, seconds(raw, n.at), written)


def earlier(a: Stamped, b: Stamped) -> bool | None:
    """Whether ``a``'s timestamp is strictly earlier than ``b``'s; None when equal or unparseable.

    Two date-times without a zone are compared as written: whichever zone they
    are in, it is the same one, so their order does not depend on it.
    """
    if a.written is not None and b.written is not None:
        x, y = a.written, b.written
    elif a.t is not None and b.t is not None:
        x, y = a.t, b.t
    else:
        return None
    return None if x == y else x < y


def judge_order(call: PlacedCall) -> tuple[Finding | None, list[str]]:
    """One call's states judged by their timestamps, arrival order only where those cannot
    say (E12: the guide promises no delivery order). Returns the finding and notes."""
    notes: list[str] = []
    kept: dict[str, Received] = {}
    for n in lifecycle_states(call):  # a later edition's state: events.schema grades it
        kept.setdefault(json.dumps(n.doc, sort_keys=True), n)
    repeated = len(lifecycle_states(call)) - len(kept)
    if repeated:
        notes.append(
            f"{call.session_id}: {repeated} notification(s) delivered again with an identical "
            "body, each counted once (a retry)"
        )
    distinct = list(kept.values())
    states = [n.state for n in distinct]
    arrival = " -> ".join(map(str, states))
    if not lifecycle.is_legal_life(states):
        return fail(
            "one new, any number of connected, one disconnected (А.2)",
            f"{arrival} for {call.session_id}",
        ), notes
    unordered = None
    for a, b in combinations([stamped(n, i) for i, n in enumerate(distinct)], 2):
        if a.rank == b.rank:
            continue
        low, high = (a, b) if a.rank < b.rank else (b, a)
        says = earlier(low, high)
        if says is False:
            return fail(
                f"{low.n.state} before {high.n.state} by the timestamps (А.2: 'Время "
                "возникновения события')",
                f"{high.n.state} at {high.raw!r} is earlier than {low.n.state} at {low.raw!r} "
                f"in {call.session_id}: the PBX's own clock says the call went backwards "
                f"(arrived {arrival})",
            ), notes
        if says is None and high.arrived < low.arrived:
            unordered = unordered or (low, high)
    if unordered is not None:
        low, high = unordered
        return non_strict(
            "new, then connected..., then disconnected (А.2)",
            f"arrival order alone: the timestamps cannot order them ({low.n.state} at "
            f"{low.raw!r}, {high.n.state} at {high.raw!r}) and {high.n.state} arrived first, "
            f"in {call.session_id} (arrived {arrival}; the guide promises no delivery order, "
            "E12)",
        ), notes
    if not lifecycle.is_legal(states):
        notes.append(
            f"{call.session_id}: arrived out of order ({arrival}); the timestamps show the "
            "right order; E12"
        )
    return None, notes


@events_case(
    "events.order",
    section="А.2",
    title="States follow the call: new first, disconnected last",
    requirement="A call's notifications are one new, any number of connected and one "
    "disconnected, whose timestamps never put a state before an earlier one (arrival order "
    "is weighed only where the timestamps cannot order them, E12).",
)
def test_order(
    placed_calls: list[PlacedCall],
    listener: Listener,
    wire_log: list[Exchange],
    case_notes: list[str],
) -> None:
    softer = None
    for call in judged(placed_calls, listener, wire_log):
        if not call.finished:
            continue  # events.arrival says so
        finding, notes = judge_order(call)
        case_notes.extend(notes)
        if finding is not None and finding.verdict is Verdict.FAIL:
            raise finding
        softer = softer or finding
    if softer is not None:
        raise softer


#: Moscow time is UTC+3 all year (since 2014).
MOSCOW_OFFSET_S = 3 * 3600
#: Clock skew tolerated between the PBX and the suite before a note, and before a failure.
SKEW_S = 300.0
ABSURD_S = 86_400.0
_DATE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def parse_timestamp(value: Any) -> tuple[float, bool] | None:
    """``value`` as Unix seconds, and whether it is a date-time without a zone (read as UTC).

    Unix seconds as digits with an optional fraction, or as a JSON number (E4);
    an ISO 8601 date-time, ``T`` or a space between date and time, an optional
    fraction and an optional zone (``Z``, ``+03:00``, ``+0300``). None otherwise.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return (float(value), False) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return float(value), False
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return None
    date, clock, fraction, zone = match.groups()
    if zone == "Z":
        zone = "+00:00"
    elif zone is not None and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        moment = datetime.fromisoformat(f"{date}T{clock}{zone or ''}")
    except ValueError:
        return None
    naive = moment.tzinfo is None
    t = moment.replace(tzinfo=UTC).timestamp() if naive else moment.timestamp()
    return t + (float(f"0{fraction}") if fraction else 0.0), naive


def seconds(value: Any, near: float) -> float | None:
    """A timestamp as Unix seconds (``parse_timestamp``); None when it is none.

    A date-time without a zone is the table's "Timestamp (UTC)" with the zone
    unwritten -- or production's Moscow time (NOTES.md) spelled the same way: it
    is read in whichever of the two is nearer ``near``, when it arrived.
    """
    reading = parse_timestamp(value)
    if reading is None:
        return None
    t, naive = reading
    if not naive:
        return t
    return min(t, t - MOSCOW_OFFSET_S, key=lambda candidate: abs(candidate - near))


@events_case(
    "events.timestamps",
    section="А.2",
    title="Timestamps are the time of the event",
    requirement="timestamp tells when the state began: within minutes of when the suite saw "
    "it (a skew up to a day is non-strict; a time without a zone is read as UTC or Moscow "
    "time, whichever is nearer).",
)
def test_timestamps(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> None:
    skewed = None
    for call, n in each(judged(placed_calls, listener, wire_log)):
        raw = n.doc.get("timestamp") if isinstance(n.doc, dict) else None
        t = seconds(raw, n.at)
        if t is None:
            raise fail(
                "a timestamp (Unix seconds, E4, or an ISO 8601 date-time)",
                f"{raw!r} in {where(call, n)}",
            )
        off = max(call.placed_at - SKEW_S - t, t - n.at - SKEW_S, 0.0)
        if off > ABSURD_S - SKEW_S:
            raise fail(
                "the event's time",
                f"{raw!r} is {abs(t - n.at):.0f} s from when it arrived, in {where(call, n)}",
            )
        if off > 0:
            skewed = skewed or f"{raw!r}, {t - n.at:+.0f} s from arrival, in {where(call, n)}"
    if skewed:
        raise non_strict(f"the event's time within {SKEW_S:g} s", skewed)
