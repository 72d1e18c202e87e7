"""Table А.3: what a ``call_back`` request must carry, and what the PBX does with it.

request_number: "Номер в формате E.164", "Строка", "Не допускается" (empty).
from_sipuri / from_pin: each "Допускается, если задан" the other; "Если задан
from_sipuri и from_pin, то используется параметр from_sipuri".

A refusal counts only where the same request, valid and correctly signed, was
carried out: the refusal cases take the run's shared call as their control
(``call_back_control``; they skip when it failed).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.grading import answers
from conformance.grading.verdict import info, non_strict
from conformance.roles.pbx_api._common import pbx_case
from conformance.sut.calls import PlacedCall
from conformance.sut.drivers import PbxApi


@pytest.mark.parametrize("via", ["pin", "sipuri"])
@pbx_case(
    "pbx.call-back.caller",
    section="А.3",
    title="Either from_pin or from_sipuri names the user",
    requirement="A call_back naming the domain user by from_pin alone, or by from_sipuri "
    "alone, is carried out.",
    needs={"calls"},
)
def test_caller(pbx: PbxApi, via: str) -> None:
    answers.succeeded(pbx.call_back(pbx.call(via=via)), "session_id")


@pbx_case(
    "pbx.call-back.sipuri-wins",
    section="А.3",
    title="When both are given, from_sipuri is used",
    requirement="'Если задан from_sipuri и from_pin, то используется параметр from_sipuri': "
    "a from_pin naming no user does not stop the call.",
    needs={"calls"},
)
def test_sipuri_wins(pbx: PbxApi) -> None:
    doc = pbx.call(via="sipuri", from_pin="0")
    answers.succeeded(pbx.call_back(doc), "session_id")


@pbx_case(
    "pbx.call-back.pin-as-number",
    section="А.3",
    title="from_pin as a JSON number (reading recorded)",
    requirement="from_pin is typed Строка in А.3 but PINs are numbers in А.2 (E3); accepting "
    "or refusing the number is conformant and the choice is recorded.",
    needs={"calls"},
)
def test_pin_as_number(pbx: PbxApi) -> None:
    doc = pbx.call(via="pin")
    if not str(doc["from_pin"]).isdigit():
        pytest.skip("--from-pin is not digits")
    ex = pbx.call_back({**doc, "from_pin": int(doc["from_pin"])})
    if not answers.success(ex, "session_id"):
        answers.refused(ex, "session_id", why="from_pin is not a string")
        raise info(
            "a PIN given as a number accepted (either is conformant)", f"refused: {ex.summary()}"
        )


@pbx_case(
    "pbx.call-back.extra-fields",
    section="А.3",
    title="Unknown fields are ignored",
    requirement="Later editions add fields (ip_adress, sic); a PBX carries out a call_back "
    "that has fields it does not know.",
    needs={"calls"},
)
def test_extra_fields(pbx: PbxApi) -> None:
    ex = pbx.call_back(pbx.call(ip_adress="192.0.2.10", comment="vats-conformance"))
    if not answers.success(ex, "session_id"):
        answers.refused(ex, "session_id", why="unknown fields")  # a 5xx fails
        raise non_strict("unknown fields ignored", ex.summary())


#: request_number values no reading of "Номер в формате E.164" admits.
NOT_E164: dict[str, Any] = {
    "letters": "+7495abc4567",
    "too-long": "+749512345678901234",
    "plus-only": "+",
    "two-plus": "++74951234567",
}


@pytest.mark.parametrize("value", NOT_E164.values(), ids=NOT_E164.keys())
@pbx_case(
    "pbx.call-back.request-number-invalid",
    section="А.3",
    title="A request_number that is not E.164 is refused",
    requirement="request_number is 'Номер в формате E.164': a call_back with anything else "
    "is refused, with result > 0 and no session_id.",
    needs={"calls"},
)
def test_request_number_invalid(pbx: PbxApi, call_back_control: PlacedCall, value: str) -> None:
    ex = pbx.call_back(pbx.call(request_number=value))
    answers.refused(ex, "session_id", why="request_number is not E.164")


@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
@pbx_case(
    "pbx.call-back.request-number-missing",
    section="А.3",
    title="A call_back without request_number is refused",
    requirement="request_number: 'Не допускается' empty; a call_back without it is refused.",
    needs={"calls"},
)
def test_request_number_missing(
    pbx: PbxApi, call_back_control: PlacedCall, value: str | None
) -> None:
    doc = pbx.call()
    if value is None:
        del doc["request_number"]
    else:
        doc["request_number"] = value
    answers.refused(pbx.call_back(doc), "session_id", why="no request_number")


@pbx_case(
    "pbx.call-back.request-number-type",
    section="А.3",
    title="request_number as a JSON number is refused",
    requirement="request_number is a Строка holding '+' and digits; a JSON number is not one "
    "(coercing it is lenient: non-strict).",
    needs={"calls"},
)
def test_request_number_type(pbx: PbxApi, call_back_control: PlacedCall) -> None:
    doc = pbx.call()
    doc["request_number"] = int(doc["request_number"].lstrip("+"))
    ex = pbx.call_back(doc)
    if answers.success(ex, "session_id"):
        raise non_strict("a refusal: request_number is not a string", ex.summary())
    answers.refused(ex, "session_id", why="request_number is not a string")


@pytest.mark.parametrize(
    "callers",
    [{}, {"from_pin": "", "from_sipuri": ""}, {"from_pin": None, "from_sipuri": None}],
    ids=["absent", "empty", "null"],
)
@pbx_case(
    "pbx.call-back.no-caller",
    section="А.3",
    title="A call_back naming no user is refused",
    requirement="from_sipuri and from_pin may each be empty only if the other is given; with "
    "neither, the call_back is refused.",
    needs={"calls"},
)
def test_no_caller(pbx: PbxApi, call_back_control: PlacedCall, callers: dict[str, Any]) -> None:
    doc = {"request_number": pbx.call()["request_number"], **callers}
    answers.refused(pbx.call_back(doc), "session_id", why="neither from_sipuri nor from_pin")


JUNK: dict[str, Any] = {"list": ["101"], "object": {"pin": "101"}, "boolean": True}


@pytest.mark.parametrize("value", JUNK.values(), ids=JUNK.keys())
@pbx_case(
    "pbx.call-back.pin-junk",
    section="А.3",
    title="A from_pin that is no PIN at all is refused",
    requirement="from_pin is a Строка (a PIN, or per E3 a SIP-URI); a list, an object or a "
    "boolean names no user and the call_back is refused.",
    needs={"calls"},
)
def test_pin_junk(pbx: PbxApi, call_back_control: PlacedCall, value: Any) -> None:
    doc = pbx.call(via="pin", from_pin=value)
    answers.refused(pbx.call_back(doc), "session_id", why="from_pin is not a PIN")


BODIES: dict[str, bytes] = {
    "not-json": b"request_number=+74951234567&from_pin=101",
    "array": b'[{"request_number": "+74951234567", "from_pin": "101"}]',
    "empty": b"",
    "truncated": b'{"request_number": "+74951234567", "from_pin": "1',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pbx_case(
    "pbx.call-back.not-an-object",
    section="1.4.1",
    title="A body that is not a JSON object is refused",
    requirement="Requests carry 'тело запроса в формате JSON' with the parameters of А.3; "
    "anything else is refused, never answered with a 5xx.",
    needs={"calls"},
)
def test_not_an_object(pbx: PbxApi, call_back_control: PlacedCall, body: bytes) -> None:
    answers.refused(pbx.request("call_back", body), "session_id", why="the body is no JSON object")
