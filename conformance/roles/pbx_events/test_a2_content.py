"""Table А.2 (and А.3 for a call_back's call) from the CRM's side: what each notification
carries -- its fields, types and values, the fields of each state, and the parties of
the call the suite placed.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.grading.verdict import fail, info, non_strict
from conformance.roles.pbx_events._common import each, events_case, judged, where
from conformance.settings import Settings
from conformance.spec import lifecycle, schemas
from conformance.sut.calls import PlacedCall
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener

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
