"""Sections 1.3 and А.3 from the CRM's side: the notifications of a placed call arrive,
carry the call's session_id, and are POSTed to "{адрес внешней системы}/call_events".

The suite places calls with ``call_back`` (А.3) and receives, at ``--listen``,
what the PBX sends; these cases judge whether and where it arrived.
"""

from __future__ import annotations

from conformance.grading.verdict import fail
from conformance.roles.pbx_events._common import each, events_case, judged, where
from conformance.settings import Settings
from conformance.sut.calls import PlacedCall, strangers
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener


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
