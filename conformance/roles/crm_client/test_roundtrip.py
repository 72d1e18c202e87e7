"""The round trip (А.2 then А.4): notified of a recorded call, a CRM fetches its recording.

With a CRM to notify (``--crm-url``, or the embedded reference), the suite as the
PBX notifies it of calls that ended recorded (new, connected, disconnected with
``is_record`` true) and watches its PBX API for the CRM's get_record and download.
"""

from __future__ import annotations

from collections import Counter

import pytest

from conformance.grading.verdict import info, non_strict
from conformance.roles.crm_client._common import METHODS, cite, client_case, evidence, sent
from conformance.settings import Settings
from conformance.sut.crm_client import RoundTrip, Traffic, session_of
from conformance.transport.client import Exchange
from conformance.transport.listener import Received


def _trip(traffic: Traffic, wire_log: list[Exchange]) -> RoundTrip:
    trip = traffic.round_trip
    if trip is None:
        pytest.skip("no round trip: the CRM's controls could not be established (crm.sign.valid)")
    wire_log.extend(trip.notifications)
    if not trip.accepted:
        pytest.skip(
            f"inconclusive: the CRM did not accept the round trip's notifications "
            f"({trip.refused()}); the crm-webhook role says why"
        )
    return trip


def _asked(traffic: Traffic, session_id: str) -> list[Received]:
    return [r for r in traffic.of_kind("get_record") if session_of(r) == session_id]


@client_case(
    "client.roundtrip.get-record",
    section="А.4",
    title="Notified of a recorded call, the CRM asks for its recording",
    requirement="After a call's disconnected with is_record true, the CRM sends get_record "
    "for that session_id within --events-timeout (a CRM that does not is recorded as info).",
    needs=("crm",),
)
def test_round_trip_get_record(
    client_traffic: Traffic, wire_log: list[Exchange], vats_settings: Settings
) -> None:
    trip = _trip(client_traffic, wire_log)
    asked = _asked(client_traffic, trip.recorded)
    cite(wire_log, asked)
    if not asked:
        raise info(
            f"get_record for session {trip.recorded} within {vats_settings.events_timeout:g} s",
            f"none in {trip.waited_s:.0f} s: this CRM does not fetch recordings when notified "
            "(or not at once)",
        )


@client_case(
    "client.roundtrip.download",
    section="А.4",
    title="The CRM downloads the link it asked for",
    requirement="A CRM that got a recording link downloads it (a temporary link, А.4); one "
    "that never does within --events-timeout is non-strict.",
    needs=("crm",),
)
def test_round_trip_download(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    trip = _trip(client_traffic, wire_log)
    asked = _asked(client_traffic, trip.recorded)
    if not asked:
        pytest.skip(
            "the CRM asked no get_record for the recorded call (client.roundtrip.get-record)"
        )
    cite(wire_log, asked)
    tokens = {t for t, link in client_traffic.links.items() if link.session_id == trip.recorded}
    if not tokens:
        pytest.skip(
            "the PBX gave no link: the CRM's get_record was refused (the request cases say why)"
        )
    fetched = [r for r in client_traffic.of_kind("link") if r.path.rsplit("/", 1)[-1] in tokens]
    cite(wire_log, fetched)
    if not fetched:
        raise non_strict(
            "the link downloaded while it is valid",
            f"not downloaded within {trip.waited_s:.0f} s of the notification",
            *evidence(asked),
        )


@client_case(
    "client.answers",
    section="А.3",
    title="Which readings of the answers the CRM was given (recorded, not graded)",
    requirement="The suite answers in turn as each reading of the guide allows (E1 success "
    'as "1", E2 result as a string, errors as 4xx and as HTTP 200 with result > 0, E11); '
    "which each request got is recorded.",
)
def test_answers(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    every = sent(client_traffic, wire_log, *METHODS)
    given = Counter(f"{r.kind}: {r.answered_as}" for r in every)
    raise info(
        "every reading a CRM must parse",
        "; ".join(f"{text} x{n}" for text, n in sorted(given.items())),
    )
