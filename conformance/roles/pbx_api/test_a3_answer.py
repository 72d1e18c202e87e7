"""Table А.3's returned parameters: the shape of the PBX's answer to ``call_back``.

result: "Код выполнения операции: 0 – Операция выполнена успешно", Число, never
empty; resultMessage: Строка, never empty; session_id: Строка, "Допускается,
если result > 0". The example answers ``"result": "1"`` (E1) and every example
sends a string (E2): those readings are non-strict, not failures.
"""

from __future__ import annotations

import contextlib

import pytest

from conformance.engine import answers
from conformance.engine.calls import PlacedCall
from conformance.engine.client import Exchange
from conformance.engine.verdict import fail, non_strict
from conformance.roles.pbx_api._common import pbx_case


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
)
def test_json(call_back_answers: list[PlacedCall], wire_log: list[Exchange]) -> None:
    answer = _first(call_back_answers, wire_log)
    media = answer.content_type.split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise non_strict("Content-Type: application/json", f"Content-Type {answer.content_type!r}")


@pbx_case(
    "pbx.answer.result-type",
    section="А.3",
    title="result is a number (E2: the examples send a string)",
    requirement='result is typed Число; a string such as "0" follows the examples, not the '
    "table (E2): non-strict.",
)
def test_result_type(call_back_answers: list[PlacedCall], wire_log: list[Exchange]) -> None:
    result = _first(call_back_answers, wire_log).result
    if isinstance(result, str):
        raise non_strict("result as a JSON number (Table А.3: Число)", f"result {result!r} (E2)")


@pbx_case(
    "pbx.answer.success-value",
    section="А.3",
    title="Success is result 0 (E1: the example answers 1)",
    requirement="'0 – Операция выполнена успешно'; answering a success with 1, as the example "
    "does (E1), is non-strict.",
)
def test_success_value(call_back_answers: list[PlacedCall], wire_log: list[Exchange]) -> None:
    result = _first(call_back_answers, wire_log).result
    if not answers.is_zero(result):
        raise non_strict("result 0 for a success (Table А.3)", f"result {result!r} (E1)")


@pbx_case(
    "pbx.answer.message",
    section="А.3",
    title="resultMessage describes the result",
    requirement="resultMessage is a non-empty string in every answer ('Не допускается' empty).",
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
        pytest.skip("one call placed (a second needs --from-pin, --from-sipuri and --listen)")
    if len(set(ids)) < len(ids):
        raise fail("a session_id per call", f"two calls answered with session_id {ids[0]!r}")
