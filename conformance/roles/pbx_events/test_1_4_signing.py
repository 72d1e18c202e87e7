"""Sections 1.4.1 and 1.4.2 from the CRM's side: each notification identifies the client,
is signed over its exact bytes, and is a JSON object.
"""

from __future__ import annotations

from conformance.grading.client import media_type
from conformance.grading.verdict import fail, non_strict
from conformance.roles.pbx_events._common import each, events_case, judged, where
from conformance.settings import Settings
from conformance.spec import signing
from conformance.sut.calls import PlacedCall
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener


@events_case(
    "events.headers",
    section="1.4.1",
    title="Notifications carry X-Client-ID and X-Client-Sign",
    requirement="Every notification carries the client's X-Client-ID and an X-Client-Sign; "
    "its body is labelled application/json (1.4.1; none is a fail, another label non-strict).",
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
        media = media_type(n)
        if media is None:
            raise fail(
                "Content-Type: application/json (1.4.1)", f"no Content-Type in {where(call, n)}"
            )
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
