"""Table А.2 and sections 1.3-1.4 from the CRM's side: the notifications a PBX sends.

The suite places calls with ``call_back`` (А.3) and receives, at ``--listen``,
what the PBX POSTs to "{адрес внешней системы}/call_events". Each case judges
one property of every notification of those calls.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

from conformance.grading import answers, checks
from conformance.grading.verdict import Finding, Verdict, fail, info, non_strict
from conformance.roles.pbx_events._common import (
    each,
    events_case,
    judged,
    lifecycle_states,
    where,
)
from conformance.settings import Settings
from conformance.spec import lifecycle, schemas, signing
from conformance.sut.calls import PlacedCall, fetch_link, strangers
from conformance.sut.drivers import PbxApi
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener, Received


@events_case(
    "events.arrival",
    section="А.2",
    title="A placed call's notifications arrive, new to disconnected",
    requirement="For a call placed with call_back the PBX sends call_events up to "
    "disconnected within --events-timeout.",
)
def test_arrival(
    placed_calls: list[PlacedCall],
    listener: Listener,
    wire_log: list[Exchange],
    vats_settings: Settings,
) -> None:
    for call in judged(placed_calls, listener, wire_log):
        if not call.notifications:
            others = strangers(listener, placed_calls, call.placed_at)
            raise fail(
                f"notifications for session {call.session_id} within "
                f"{vats_settings.events_timeout:g} s",
                f"none with that session_id; {len(others)} other request(s) arrived"
                + (f", first: {others[0].show()}" if others else ""),
            )
        if not call.finished:
            raise fail(
                f"a disconnected within {vats_settings.events_timeout:g} s (--events-timeout)",
                call.describe(),
            )


@events_case(
    "events.session-id",
    section="А.3",
    title="Notifications carry the session_id call_back returned",
    requirement="session_id is 'Внутренний идентификатор сессии': the call's notifications "
    "carry the one call_back's answer gave.",
)
def test_session_id(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> None:
    for call in judged(placed_calls, listener, wire_log):
        if call.notifications:
            continue
        others = [r for r in strangers(listener, placed_calls, call.placed_at) if r.doc]
        if others:
            wire_log.extend(r.exchange for r in others[:5])
            raise fail(
                f"notifications with session_id {call.session_id!r} (from call_back)",
                f"{len(others)} arrived with other ids, e.g. {others[0].session_id!r}",
            )
        raise fail(f"notifications with session_id {call.session_id!r}", "none arrived")


@events_case(
    "events.path",
    section="1.3",
    title="Notifications are POSTed to {external address}/call_events",
    requirement="The PBX sends each notification as a POST to the external system's address "
    "followed by /call_events.",
)
def test_path(placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]) -> None:
    for call, n in each(judged(placed_calls, listener, wire_log)):
        if n.method != "POST" or not n.path.rstrip("/").endswith("/call_events"):
            raise fail("POST .../call_events", where(call, n))


@events_case(
    "events.headers",
    section="1.4.1",
    title="Notifications carry X-Client-ID and X-Client-Sign",
    requirement="Every notification carries the client's X-Client-ID and an X-Client-Sign; "
    "its body is labelled application/json (another label is non-strict).",
)
def test_headers(
    placed_calls: list[PlacedCall],
    listener: Listener,
    wire_log: list[Exchange],
    vats_settings: Settings,
) -> None:
    label = None
    for call, n in each(judged(placed_calls, listener, wire_log)):
        cid = n.header(signing.CLIENT_ID_HEADER)
        if cid != vats_settings.client_id:
            raise fail(f"X-Client-ID: {vats_settings.client_id}", f"{cid!r} in {where(call, n)}")
        if not n.header(signing.SIGN_HEADER):
            raise fail("an X-Client-Sign header", f"none in {where(call, n)}")
        media = (n.header("Content-Type") or "").split(";")[0].strip().lower()
        if media != "application/json" and label is None:
            label = f"Content-Type {n.header('Content-Type')!r} in {where(call, n)}"
    if label:
        raise non_strict("Content-Type: application/json (1.4.1)", label)


@events_case(
    "events.signature",
    section="1.4.2",
    title="Notifications are signed over their exact bytes",
    requirement="X-Client-Sign is sha256hex(client_id + the raw body + key) in lowercase hex "
    "(uppercase is non-strict).",
)
def test_signature(
    placed_calls: list[PlacedCall],
    listener: Listener,
    wire_log: list[Exchange],
    vats_settings: Settings,
) -> None:
    upper = wrong = None
    s = vats_settings
    for call, n in each(judged(placed_calls, listener, wire_log)):
        got = n.header(signing.SIGN_HEADER) or ""
        expected = signing.sign(s.client_id, n.body, s.client_key)
        n.exchange.signed_correctly = got == expected  # the fact, recorded where it is known
        if got == expected:
            continue
        if got.lower() == expected:
            upper = upper or where(call, n)
            continue
        wrong = wrong or f"{got!r} on {where(call, n)}"
    if wrong:
        raise fail("sha256hex(client_id + body + key) over the bytes sent", wrong)
    if upper:
        raise non_strict("lowercase hex, as every known receiver compares", f"uppercase on {upper}")


@events_case(
    "events.json",
    section="1.4.1",
    title="Notifications are JSON objects",
    requirement="Each notification's body is a UTF-8 JSON object.",
)
def test_json(placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]) -> None:
    for call, n in each(judged(placed_calls, listener, wire_log)):
        if not isinstance(n.doc, dict):
            raise fail("a UTF-8 JSON object", where(call, n))


#: The fields Table А.2 gives "в формате E.164 или SIP-URI".
NUMBER_FIELDS = ("from_number", "request_number")


def with_plus(doc: Any) -> dict[str, Any] | None:
    """``doc`` with a ``+`` before every number field that is digits only; None when none is."""
    if not isinstance(doc, dict):
        return None
    digits = {
        name: f"+{value}"
        for name in NUMBER_FIELDS
        if isinstance(value := doc.get(name), str) and re.fullmatch(r"[0-9]+", value)
    }
    return {**doc, **digits} if digits else None


@events_case(
    "events.schema",
    section="А.2",
    title="Notifications match Table А.2",
    requirement="Each notification has the fields, types and values of Table А.2 (E.164 "
    "numbers without their +, and shapes seen only in production under the guide profile, "
    "are non-strict).",
)
def test_schema(
    placed_calls: list[PlacedCall],
    listener: Listener,
    wire_log: list[Exchange],
    vats_settings: Settings,
) -> None:
    profile = vats_settings.profile
    field_only = no_plus = None
    for call, n in each(judged(placed_calls, listener, wire_log)):
        problems = schemas.errors("call_events", n.doc, profile)
        if not problems:
            continue
        plussed = with_plus(n.doc)
        if plussed is not None and schemas.is_valid("call_events", plussed, profile):
            no_plus = no_plus or f"{where(call, n)}: {problems[0]}"
            continue
        if profile == "guide" and any(
            doc is not None and schemas.is_valid("call_events", doc, "field")
            for doc in (n.doc, plussed)
        ):
            field_only = field_only or f"{where(call, n)}: {problems[0]}"
            continue
        raise fail("a notification Table А.2 allows", f"{where(call, n)}: {'; '.join(problems)}")
    if no_plus:
        raise non_strict(
            "E.164 numbers with their leading + (А.2: 'Номер в формате E.164', as every "
            "example writes it)",
            f"digits only, valid once a + is put before them: {no_plus}"
            + (f"; also a production shape: {field_only}" if field_only else ""),
        )
    if field_only:
        raise non_strict("the guide's shapes (А.2)", f"a production shape: {field_only}")


def _given(doc: dict[str, Any], field: str) -> bool:
    return doc.get(field) not in (None, "")


@events_case(
    "events.fields-per-state",
    section="А.2",
    title="Each state carries the fields А.2 gives it",
    requirement="Fields set 'только для' some states or types appear only there; is_record on "
    "connected follows the guide's example (E6) and is recorded.",
)
def test_fields_per_state(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> None:
    rules = schemas.only_for("call_events")
    e6 = None
    for call, n in each(judged(placed_calls, listener, wire_log)):
        doc = n.doc if isinstance(n.doc, dict) else {}
        if n.state not in lifecycle.STATES:
            continue  # a later edition's state: events.schema grades it
        for field, rule in rules.items():
            if not _given(doc, field):
                continue
            misplaced = [k for k, allowed in rule.items() if doc.get(k) not in allowed]
            if not misplaced:
                continue
            if field == "is_record" and doc.get("state") == "connected":
                e6 = e6 or where(call, n)
                continue
            raise non_strict(
                f"{field} only for {rule} (Table А.2)", f"{field} set on {where(call, n)}"
            )
    if e6:
        raise info("is_record only on disconnected (the table)", f"also on connected (E6): {e6}")


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


@events_case(
    "events.is-record",
    section="А.4",
    title="is_record agrees with get_record",
    requirement="A call whose disconnected says is_record true has a recording get_record links "
    "to; one that says false has none.",
)
def test_is_record(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange], pbx: PbxApi
) -> None:
    silent = None
    for call in judged(placed_calls, listener, wire_log):
        if not call.finished:
            continue
        values = {
            str(n.doc.get("is_record"))
            for n in call.notifications
            if isinstance(n.doc, dict) and n.doc.get("is_record") not in (None, "")
        }
        if len(values) > 1:
            raise non_strict(
                "one is_record value per call", f"{sorted(values)} in {call.describe()}"
            )
        recorded = call.recorded
        if recorded is None:
            silent = silent or call.describe()
            continue
        assert call.session_id is not None
        # A recording may take a while to be ready: asked again until --events-timeout.
        wait = pbx.settings.events_timeout if recorded else 0.0
        _, tried = fetch_link(pbx, call.session_id, wait=wait)
        got = [answers.outcome(answers.parse(ex), "url") for ex in tried]
        for ex in tried:
            checks.not_a_server_error(ex)
        if recorded and "success" not in got:
            raise fail(
                "get_record links to the recording is_record announced",
                " / ".join(ex.summary() for ex in tried),
            )
        if not recorded and "success" in got:
            raise fail(
                "no recording when is_record is false", " / ".join(ex.summary() for ex in tried)
            )
    if silent:
        raise info("is_record on disconnected", f"absent: {silent}")


@events_case(
    "events.call-parties",
    section="А.3",
    title="A call_back call is an outbound call to the number asked for",
    requirement="The call call_back places is type outbound ('исходящий вызов') and its "
    "request_number is the number asked for (another is non-strict).",
)
def test_call_parties(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> None:
    for call, n in each(judged(placed_calls, listener, wire_log)):
        doc = n.doc if isinstance(n.doc, dict) else {}
        if doc.get("type") != "outbound":
            raise non_strict("type outbound for a call_back call", where(call, n))
        asked = re.sub(r"\D", "", call.request["request_number"])
        if n.state == "new" and re.sub(r"\D", "", str(doc.get("request_number"))) != asked:
            raise non_strict(
                f"request_number {call.request['request_number']} (the number asked for)",
                where(call, n),
            )
