"""Table А.3's returned parameters: the shape of the PBX's answer to ``call_back``.

result: "Код выполнения операции: 0 – Операция выполнена успешно", Число, never
empty; resultMessage: Строка, never empty; session_id: Строка, "Допускается,
если result > 0". The example answers ``"result": "1"`` (E1) and every example
sends a string (E2): which of these readings the PBX takes is recorded
(``info``, and ``readings`` in results.json) -- the guide prints both.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from conformance.grading import answers
from conformance.grading.readings import Reading
from conformance.grading.verdict import fail, info, non_strict
from conformance.roles.pbx_api._common import pbx_case
from conformance.sut.calls import PlacedCall
from conformance.transport.client import Exchange


def _first(calls: list[PlacedCall], wire_log: list[Exchange]) -> answers.Answer:
    """The shared call's answer, when it was a success; these cases judge one property each."""
    wire_log.append(calls[0].answer)
    answer = answers.parse(calls[0].answer)
    if answers.outcome(answer, "session_id") != "success":
        pytest.skip("the shared call_back was not answered with success (pbx.sign.valid says why)")
    return answer


@pbx_case(
    "pbx.answer.json",
    section="А.3",
    title="The answer is JSON, labelled as JSON",
    requirement="'Возвращаемые параметры (JSON)': the answer is a JSON object sent with "
    "Content-Type application/json (another label is non-strict).",
    needs={"calls"},
)
def test_json(call_back_answers: list[PlacedCall], wire_log: list[Exchange]) -> None:
    answer = _first(call_back_answers, wire_log)
    media = answer.content_type.split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise non_strict("Content-Type: application/json", f"Content-Type {answer.content_type!r}")


def _record(
    run_readings: dict[str, dict[str, Any]], dimension: str, used: str, other: str, case: str
) -> None:
    """The PBX sends one of the two readings: recorded as taken (results.json "readings")."""
    reading = Reading(dimension, (used, other), accepted=[used], used=used)
    run_readings.setdefault("pbx-api", {})[dimension] = reading.to_json(case)


@pbx_case(
    "pbx.reading.result-type",
    section="А.3",
    title="result as a number (the table) or a string (the examples), recorded (E2)",
    requirement="result is typed Число while every example sends a string (E2); which the PBX "
    "sends is recorded.",
    needs={"calls"},
)
def test_result_type(
    call_back_answers: list[PlacedCall],
    wire_log: list[Exchange],
    run_readings: dict[str, dict[str, Any]],
) -> None:
    result = _first(call_back_answers, wire_log).result
    used = "string" if isinstance(result, str) else "number"
    _record(
        run_readings,
        "result_type",
        used,
        "number" if used == "string" else "string",
        "pbx.reading.result-type",
    )
    raise info(
        "result as a number (Table А.3: Число) or a string (the examples), E2",
        f"result {result!r}: a {used}",
    )


@pbx_case(
    "pbx.reading.success-value",
    section="А.3",
    title="Success as result 0 (the table) or 1 (the example), recorded (E1)",
    requirement="'0 – Операция выполнена успешно' while the example answers a success with "
    '"1" (E1); which the PBX sends is recorded, and the run reads its answers by it.',
    needs={"calls"},
)
def test_success_value(
    call_back_answers: list[PlacedCall],
    wire_log: list[Exchange],
    run_readings: dict[str, dict[str, Any]],
) -> None:
    result = _first(call_back_answers, wire_log).result
    used = "0" if answers.is_zero(result) else "1"
    _record(
        run_readings,
        "success_value",
        used,
        "1" if used == "0" else "0",
        "pbx.reading.success-value",
    )
    raise info(
        "success as result 0 (Table А.3) or 1 (the example), E1",
        f"result {result!r}"
        + ("; a 1 with a session_id now reads as a refusal" if used == "0" else ""),
    )


@pbx_case(
    "pbx.answer.message",
    section="А.3",
    title="resultMessage describes the result",
    requirement="resultMessage is a non-empty string in every answer ('Не допускается' empty).",
    needs={"calls"},
)
def test_message(call_back_answers: list[PlacedCall], wire_log: list[Exchange]) -> None:
    message = _first(call_back_answers, wire_log).value("resultMessage")
    if not isinstance(message, str) or not message.strip():
        raise fail("a non-empty resultMessage string", f"resultMessage {message!r}")


@pbx_case(
    "pbx.answer.session-id",
    section="А.3",
    title="Each call gets a session_id of its own",
    requirement="session_id is a non-empty string identifying the call; two calls never share "
    "one (E7: its format is opaque).",
    needs={"calls"},
)
def test_session_id(
    call_back_answers: list[PlacedCall], wire_log: list[Exchange], request: pytest.FixtureRequest
) -> None:
    calls = call_back_answers
    # The second shared call is placed once the first has ended: that needs --listen.
    with contextlib.suppress(pytest.skip.Exception):
        calls = request.getfixturevalue("placed_calls")
    ids = []
    for call in calls:
        wire_log.append(call.answer)
        sid = answers.succeeded(call.answer, "session_id").value("session_id")
        if isinstance(sid, int) and not isinstance(sid, bool):
            raise non_strict("session_id as a string (Строка)", f"session_id {sid!r}, a number")
        if not isinstance(sid, str):
            raise fail("session_id as a string (Строка)", f"session_id {sid!r}")
        ids.append(sid)
    if len(ids) < 2:
        pytest.skip(
            "one call placed (a second needs --from-pin, --from-sipuri and --listen, and is "
            "placed once the first has ended: its disconnected arrived)"
        )
    if len(set(ids)) < len(ids):
        raise fail("a session_id per call", f"two calls answered with session_id {ids[0]!r}")
