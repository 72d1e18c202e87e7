"""Table А.2 "Описание параметров интерфейса call_events": what a notification holds.

A receiver accepts every notification the table allows, in every shape on
which the readings of the guide agree; where they disagree (E4, E6) its choice
is recorded, not graded. Each case writes what is not its subject in the
readings the receiver takes (timestamp, pins, is_record: crm.reading.*); the
guide's examples go byte for byte.
"""

from __future__ import annotations

import json
import secrets

import pytest

from conformance.grading import checks, readings
from conformance.grading.verdict import Verdict, info
from conformance.roles.crm_webhook._common import (
    SHARE_VARIANTS,
    VARIANTS,
    crm_case,
    notification,
    sample,
)
from conformance.spec import examples, lifecycle
from conformance.sut.controls import CrmControls
from conformance.sut.drivers import CrmWebhook
from conformance.sut.notifications import ok
from conformance.transport.client import Exchange

PAIRS = [(s, t) for s in lifecycle.STATES for t in lifecycle.CALL_TYPES]


@pytest.mark.parametrize(("state", "call_type"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
@crm_case(
    "crm.content.state-type",
    section="А.2",
    title="Every state of every call type is accepted",
    requirement="Notifications of every state (new, connected, disconnected) for every call "
    "type (incoming, outbound, internal) are accepted.",
)
def test_state_and_type_accepted(crm: CrmWebhook, state: str, call_type: str) -> None:
    checks.accepted(crm.notify(crm.adapt(sample(state, call_type))))


@crm_case(
    "crm.content.explore",
    section="А.2",
    title="Generated valid notifications are accepted",
    requirement="Any notification that Table А.2 allows is accepted.",
    generated=True,
)
def test_generated_notifications_accepted(crm: CrmWebhook) -> None:
    crm.explore(
        VARIANTS, lambda v: checks.accepted(crm.notify(crm.adapt(v[0]))), share=SHARE_VARIANTS
    )


REQUIRED = ("session_id", "timestamp", "type", "state", "from_number", "request_number")


@pytest.mark.parametrize("state", lifecycle.STATES)
@crm_case(
    "crm.content.minimal",
    section="А.2",
    title="A notification with only the required fields is accepted",
    requirement="Fields whose empty value the table allows (pins, disconnect_reason, "
    "is_record) may be absent.",
)
def test_optional_fields_absent_accepted(crm: CrmWebhook, state: str) -> None:
    doc = {k: v for k, v in sample(state, "internal").items() if k in REQUIRED}
    checks.accepted(crm.notify(crm.adapt(doc)))


@crm_case(
    "crm.content.optional-null",
    section="А.2",
    title="Optional fields set to null (recorded, not graded)",
    requirement="'Допускается' (empty allowed) may mean absent, null or an empty string; "
    "whether the receiver takes null for empty is recorded.",
)
def test_optional_fields_null_recorded(crm: CrmWebhook) -> None:
    doc = sample("disconnected", "internal")
    doc.update(from_pin=None, request_pin=None, disconnect_reason=None, is_record=None)
    checks.reading_recorded(crm.notify(crm.adapt(doc)), "empty: null")


NUMBERS = {
    "e164-both": ("+74951234567", "+74991234567"),
    "sip-uri-both": ("user1@domain.ru", "user2@domain.ru"),
    "sip-scheme": ("sip:user1@192.168.69.142", "sip:user2@192.168.69.142:5060"),
    "e164-to-sip": ("+436602225877", "test_user@cloudpbx.rt.ru"),
}


@pytest.mark.parametrize("numbers", sorted(NUMBERS))
@crm_case(
    "crm.content.numbers",
    section="А.2",
    title="Numbers in E.164 and as SIP-URIs are accepted",
    requirement="from_number and request_number are 'Номер в формате E.164 или SIP-URI'.",
)
def test_number_shapes_accepted(crm: CrmWebhook, numbers: str) -> None:
    caller, callee = NUMBERS[numbers]
    checks.accepted(crm.notify(crm.adapt(notification(from_number=caller, request_number=callee))))


@pytest.mark.parametrize("name", ["new", "disconnected"])
@crm_case(
    "crm.content.guide-example",
    section="А.2",
    title="The guide's own example, byte for byte, is accepted",
    requirement="The examples printed in Appendix А are valid notifications.",
)
def test_guide_example_accepted(crm: CrmWebhook, crm_controls: CrmControls, name: str) -> None:
    ex = crm.raw(examples.raw(f"call_events.{name}"), expect="accept")
    if ex.status is not None and 400 <= ex.status < 500:
        control = example_control(crm, crm_controls, name)
        if ok(control):
            raise info(
                "the example accepted as printed",
                f"{ex.summary()}; the same bytes dated now, on a call of their own (its new "
                "first), with the guide's timestamp reading this CRM takes, were accepted: it "
                "refuses the example's date, its session id or its reading of E4, not its "
                "content",
                ex,
                control,
            )
    checks.accepted(ex)


#: The readings the guide itself prints (D33): production's are not the guide's.
GUIDE_TIMESTAMPS = ("unix-string", "unix-number")


def example_control(crm: CrmWebhook, controls: CrmControls, name: str) -> Exchange:
    """The control of a guide example refused as printed (D19): the same bytes, dated now,
    on a session of their own, a later state after the example's ``new`` (re-dated
    likewise), and with the guide's reading of E4 that this CRM takes. Byte for byte
    means the guide's own session_id and its 2017 time, the same on every run: a CRM
    may rightly refuse a call it has from an earlier run, a notification dated years
    ago (replay protection), or the examples' string where it takes the table's number.
    """
    value = examples.value("call_events.new")
    reading = controls.used().get("timestamp")
    stamp = readings.timestamp(
        lifecycle.RECENT, reading if reading in GUIDE_TIMESTAMPS else "unix-string"
    )
    session = str(10**13 + secrets.randbelow(9 * 10**13)).encode()

    def redated(raw: bytes) -> bytes:
        return raw.replace(f'"{value["timestamp"]}"'.encode(), json.dumps(stamp).encode()).replace(
            str(value["session_id"]).encode(), session
        )

    if name != "new":
        crm.raw(redated(examples.raw("call_events.new")), expect="accept")
    return crm.raw(redated(examples.raw(f"call_events.{name}")), expect="accept")


@crm_case(
    "crm.content.guide-example-connected",
    section="А.2",
    title="The guide's connected example, with is_record (E6), byte for byte",
    requirement="The connected example carries is_record although the table sets it only on "
    "disconnect (E6); either reading is conformant and the choice is recorded.",
)
def test_guide_connected_example(crm: CrmWebhook, crm_controls: CrmControls) -> None:
    ex = crm.raw(examples.raw("call_events.connected"), expect="accept")
    checks.not_a_server_error(ex)
    if 200 <= (ex.status or 0) < 300:
        return
    if ok(example_control(crm, crm_controls, "connected")):
        raise info(
            "the example accepted as printed",
            f"{ex.summary()}; accepted dated now on a call of its own: the refusal was of the "
            "example's date or session id, and the CRM takes the example's reading of E6",
            ex,
        )
    raise info(
        "a 2xx if the receiver takes the reading E6: example",
        f"{ex.summary()}: the receiver takes the other reading (is_record on disconnected only)",
        ex,
    )


@pytest.mark.parametrize("style", ["raw-utf8", "unicode-escaped"])
@crm_case(
    "crm.content.cyrillic",
    section="А.2",
    title="Cyrillic text, raw UTF-8 or \\u-escaped, is accepted",
    requirement="disconnect_reason is free text such as 'Отбой вызывающего абонента', in "
    "either JSON spelling.",
)
def test_cyrillic_accepted(crm: CrmWebhook, style: str) -> None:
    doc = crm.adapt(notification(disconnect_reason="Отбой вызывающего абонента — «ёЁ»"))
    checks.accepted(crm.notify(doc, style))


@crm_case(
    "crm.content.extra-fields",
    section="А.2",
    title="Unknown extra fields are accepted (forward compatibility)",
    requirement="Later editions add fields; a receiver ignores the ones it does not know.",
)
def test_unknown_fields_accepted(crm: CrmWebhook) -> None:
    doc = crm.adapt(
        notification(call_id="a1b2", analytics={"mos": 4.2, "tags": ["x"]}, ip_adress="10.0.0.1")
    )
    otherwise = Verdict.FAIL if crm.settings.profile == "field" else Verdict.NON_STRICT
    checks.accepted(
        crm.notify(doc),
        otherwise=otherwise,
        why="production PBXs send fields the 2017 guide does not list",
    )


@crm_case(
    "crm.content.timestamp-number",
    section="А.2",
    title="timestamp as a number, the table's reading of E4 (recorded)",
    requirement="The table types timestamp as Timestamp, the examples send a string of Unix "
    "seconds (E4); either reading is conformant and the choice is recorded.",
)
def test_timestamp_number_recorded(crm: CrmWebhook) -> None:
    doc = crm.adapt(notification(timestamp=lifecycle.RECENT))  # the subject: left a number
    checks.reading_recorded(crm.notify(doc), "E4: number")
