"""Readings of Table А.2 the CRM takes, where the guide allows two (NOTES E3, E4; production).

Probed once, before the first case (sut/controls.py): the run then writes
every notification that is not about these shapes in the reading the CRM takes.
A choice among readings is recorded (``info``); taking every reading is a
``pass``; ``fail`` only when the CRM takes none while the same notification
without the field is accepted (its control). A server error on one reading is
noted here and failed by the content cases, which own the shapes.
"""

from __future__ import annotations

import pytest

from conformance.grading.readings import ORIGIN, Reading
from conformance.grading.verdict import fail, info
from conformance.roles.crm_webhook._common import crm_case
from conformance.sut.controls import CrmControls
from conformance.transport.client import Exchange


def _report(reading: Reading, wire_log: list[Exchange], field: str) -> None:
    wire_log.extend(reading.exchanges)
    shown = "; ".join(
        f"{name} ({ORIGIN.get(name, '')}): {answer}" for name, answer in reading.refused.items()
    )
    if reading.inconclusive:
        pytest.skip(f"inconclusive: {reading.inconclusive}")
    if not reading.accepted:
        raise fail(
            f"{field} accepted in one reading at least ({', '.join(reading.tried)})",
            f"refused in every one: {shown}",
            *reading.exchanges,
        )
    if reading.refused:
        raise info(
            f"{field} in any of {', '.join(reading.tried)}",
            f"takes {', '.join(reading.accepted)}; the run uses {reading.used}; refused {shown}",
        )


@crm_case(
    "crm.reading.timestamp",
    section="А.2",
    title="timestamp: Unix seconds in a string, a number, or production's date-time (recorded)",
    requirement="The table types timestamp as Timestamp and the examples send a string of Unix "
    "seconds (E4), production a Moscow date-time; which the CRM takes is recorded.",
)
def test_timestamp_reading(crm_controls: CrmControls, wire_log: list[Exchange]) -> None:
    crm_controls.require()
    _report(crm_controls.readings["timestamp"], wire_log, "timestamp")


@crm_case(
    "crm.reading.pins",
    section="А.2",
    title="Pins as numbers (Table А.2) or as strings (production), recorded",
    requirement="from_pin and request_pin are typed Число and the example sends 317, "
    "production sends strings; which the CRM takes is recorded, and it takes one.",
)
def test_pins_reading(crm_controls: CrmControls, wire_log: list[Exchange]) -> None:
    crm_controls.require()
    _report(crm_controls.readings["pins"], wire_log, "pins")


@crm_case(
    "crm.reading.is-record",
    section="А.2",
    title="is_record as a boolean (Table А.2) or as a string (production), recorded",
    requirement="is_record is typed Boolean and the examples send true, production sends "
    "'true'/'false'; which the CRM takes is recorded, and it takes one.",
)
def test_is_record_reading(crm_controls: CrmControls, wire_log: list[Exchange]) -> None:
    crm_controls.require()
    _report(crm_controls.readings["is_record"], wire_log, "is_record")
