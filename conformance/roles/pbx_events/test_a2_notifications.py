"""Table А.2 and sections 1.3-1.4 from the CRM's side: the notifications a PBX sends.

The suite places calls with ``call_back`` (А.3) and receives, at ``--listen``,
what the PBX POSTs to "{адрес внешней системы}/call_events". Each case judges
one property of every notification of those calls.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from conformance.engine import answers, checks
from conformance.engine.calls import PlacedCall, fetch_link, strangers
from conformance.engine.client import Exchange
from conformance.engine.drivers import PbxApi
from conformance.engine.listener import Listener
from conformance.engine.settings import Settings
from conformance.engine.verdict import fail, info, non_strict
from conformance.roles.pbx_events._common import (
    each,
    events_case,
    judged,
    lifecycle_states,
    where,
)
from conformance.spec import lifecycle, schemas, signing


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
            wire_log.extend(r.exchange(listener.url) for r in others[:5])
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
    upper = None
    s = vats_settings
    for call, n in each(judged(placed_calls, listener, wire_log)):
        got = n.header(signing.SIGN_HEADER) or ""
        expected = signing.sign(s.client_id, n.body, s.client_key)
        if got == expected:
            continue
        if got.lower() == expected:
            upper = upper or where(call, n)
            continue
        raise fail(
            "sha256hex(client_id + body + key) over the bytes sent", f"{got!r} on {where(call, n)}"
        )
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


@events_case(
    "events.schema",
    section="А.2",
    title="Notifications match Table А.2",
    requirement="Each notification has the fields, types and values of Table А.2 (shapes seen "
    "only in production are non-strict under the guide profile).",
)
def test_schema(
    placed_calls: list[PlacedCall],
    listener: Listener,
    wire_log: list[Exchange],
    vats_settings: Settings,
) -> None:
    field_only = None
    for call, n in each(judged(placed_calls, listener, wire_log)):
        problems = schemas.errors("call_events", n.doc, vats_settings.profile)
        if not problems:
            continue
        if vats_settings.profile == "guide" and schemas.is_valid("call_events", n.doc, "field"):
            field_only = field_only or f"{where(call, n)}: {problems[0]}"
            continue
        raise fail("a notification Table А.2 allows", f"{where(call, n)}: {'; '.join(problems)}")
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


@events_case(
    "events.order",
    section="А.2",
    title="States follow the call: new first, disconnected last",
    requirement="A call's notifications go new, then connected (repeated on a transfer), then "
    "disconnected, each arriving in that order.",
)
def test_order(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> None:
    for call in judged(placed_calls, listener, wire_log):
        if not call.finished:
            continue  # events.arrival says so
        states = [n.state for n in lifecycle_states(call)]
        if not lifecycle.is_legal(states):
            raise fail(
                "new, connected..., disconnected (А.2), in arrival order",
                f"{' -> '.join(map(str, states))} for {call.session_id}",
            )


MOSCOW = timezone(timedelta(hours=3))
#: Clock skew tolerated between the PBX and the suite before a note, and before a failure.
SKEW_S = 300.0
ABSURD_S = 86_400.0


def seconds(value: Any) -> float | None:
    """A timestamp as Unix seconds: digits (E4), or the production "YYYY-MM-DD HH:MM:SS.mmm"
    in Moscow time, or ISO 8601 with a zone (the table's "Timestamp (UTC)")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return float(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MOSCOW if " " in value else UTC)
    return moment.timestamp()


@events_case(
    "events.timestamps",
    section="А.2",
    title="Timestamps are the time of the event",
    requirement="timestamp tells when the state began: within minutes of when the suite saw "
    "it (a skew up to a day is non-strict), never decreasing through a call.",
)
def test_timestamps(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange]
) -> None:
    skewed = None
    for call in judged(placed_calls, listener, wire_log):
        last = None
        for n in call.notifications:
            raw = n.doc.get("timestamp") if isinstance(n.doc, dict) else None
            t = seconds(raw)
            if t is None:
                raise fail("a timestamp (Unix seconds, E4)", f"{raw!r} in {where(call, n)}")
            off = max(call.placed_at - SKEW_S - t, t - n.at - SKEW_S, 0.0)
            if off > ABSURD_S - SKEW_S:
                raise fail(
                    "the event's time",
                    f"{raw!r} is {abs(t - n.at):.0f} s from when it arrived, in {where(call, n)}",
                )
            if off > 0:
                skewed = skewed or f"{raw!r}, {t - n.at:+.0f} s from arrival, in {where(call, n)}"
            if last is not None and t < last:
                raise fail("timestamps that never decrease through a call", where(call, n))
            last = t
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
