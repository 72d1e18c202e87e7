"""Reading and judging the PBX's answers to ``call_back`` and ``get_record`` (А.3, А.4).

Both tables return ``result`` ("0 -- Операция выполнена успешно", typed Число),
``resultMessage`` (never empty) and the method's value (``session_id`` or
``url``, empty allowed only when ``result`` > 0). The guide contradicts itself
on the success value (E1: the example answers ``"1"``) and on the type (E2:
every example sends a string), and lists no error codes or HTTP statuses
(E11, E12). So:

* ``outcome`` reads an answer under every reading at once: success is ``result``
  0 or ``"0"``, or 1 / ``"1"`` *with* the method's value (the example's
  reading); a refusal is a 4xx, or a 2xx whose ``result`` is anything else.
  (So a PBX that answered errors with ``result`` 1 *and* a session id would be
  read as succeeding: E1 makes the two indistinguishable; D22.)
* Once a method's success has been seen (the run's shared call for
  ``call_back``, the first link for ``get_record``), ``SEEN`` holds its reading:
  a PBX that answers success with 0 has no "1 = success" reading left, so a 1
  with a session id is then a refusal (the blind spot of E1 closed for it).
* ``succeeded`` and ``refused`` fail only what no reading allows; the readings
  themselves are recorded once, by the cases ``pbx.reading.result-type`` and
  ``pbx.reading.success-value`` (docs/DECISIONS.md D22, D33).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conformance.grading import checks
from conformance.grading.verdict import fail, non_strict
from conformance.transport import ids
from conformance.transport.client import Exchange

SUCCESS_MESSAGE = "Операция выполнена успешно"


@dataclass(frozen=True)
class Answer:
    """An answer as the CRM sees it."""

    ex: Exchange
    doc: dict[str, Any] | None
    problem: str | None  # why ``doc`` is None

    @property
    def result(self) -> Any:
        return self.doc.get("result") if self.doc else None

    def value(self, key: str) -> Any:
        return self.doc.get(key) if self.doc else None

    def has(self, key: str) -> bool:
        """``key`` is present with a non-empty value."""
        val = self.value(key)
        return val is not None and val != ""

    @property
    def content_type(self) -> str:
        for name, val in self.ex.response_headers:
            if name.lower() == "content-type":
                return val
        return ""


def parse(ex: Exchange) -> Answer:
    if ex.status is None:
        return Answer(ex, None, f"no answer ({ex.error})")
    if not ex.response_body.strip():
        return Answer(ex, None, "an empty body")
    try:
        doc = json.loads(ex.response_body.decode("utf-8"))
    except UnicodeDecodeError:
        return Answer(ex, None, "a body that is not UTF-8")
    except ValueError:
        return Answer(ex, None, "a body that is not JSON")
    except RecursionError:
        return Answer(ex, None, "a body nested too deeply to read")
    if not isinstance(doc, dict):
        return Answer(ex, None, f"JSON that is not an object ({type(doc).__name__})")
    return Answer(ex, doc, None)


def is_zero(result: Any) -> bool:
    return (type(result) is int and result == 0) or result == "0"


def is_one(result: Any) -> bool:
    return (type(result) is int and result == 1) or result == "1"


#: The success value each method's answers were seen to use (key -> "0" or "1"),
#: set once per run by the first success seen (``note_success``).
SEEN: dict[str, str] = {}


def note_success(answer: Answer, key: str) -> None:
    """Remember the reading of the first success of a method (E1): 0, or 1."""
    if key not in SEEN and outcome(answer, key) == "success":
        SEEN[key] = "0" if is_zero(answer.result) else "1"


def outcome(answer: Answer, key: str) -> str:
    """``"success"``, ``"refusal"``, ``"server-error"`` or ``"unclear"`` (see module doc)."""
    status = answer.ex.status
    if status is None or status >= 500:
        return "server-error"
    if 400 <= status < 500:
        return "refusal"
    if not 200 <= status < 300 or answer.doc is None or "result" not in answer.doc:
        return "unclear"
    result = answer.result
    one_is_success = SEEN.get(key) != "0"
    if is_zero(result) or (one_is_success and is_one(result) and answer.has(key)):
        return "success"
    return "refusal"


def session_of(ex: Exchange) -> str | None:
    """The session id a ``call_back`` answer gave, when it reads as a success.

    A number counts too (as its digits): ``pbx.answer.session-id`` grades its type.
    """
    answer = parse(ex)
    sid = ids.text(answer.value("session_id"))
    return sid if sid and outcome(answer, "session_id") == "success" else None


def success(ex: Exchange, key: str) -> bool:
    """Whether ``ex`` reads as a success under some reading (``outcome``); judges nothing."""
    return outcome(parse(ex), key) == "success"


def succeeded(ex: Exchange, key: str) -> Answer:
    """The request was carried out: a 2xx JSON object with a success ``result`` and ``key``."""
    checks.not_a_server_error(ex)
    answer = parse(ex)
    if answer.doc is None:
        raise fail(f"a JSON object answer with result and {key} (А.3, А.4)", _show(answer), ex)
    verdict = outcome(answer, key)
    if verdict != "success":
        raise fail(f"success: a 2xx with result 0 and {key}", _show(answer), ex)
    if not answer.has(key):
        raise fail(f"{key} in a successful answer (empty only when result > 0)", _show(answer), ex)
    return answer


def refused(ex: Exchange, key: str, *, why: str) -> Answer:
    """The request was not carried out, and the answer says so as the tables allow.

    A 2xx success fails; so does a refusal that still carries the method's value
    (a link to nothing, a call that will not happen), and a JSON refusal without
    a non-empty ``resultMessage`` ("Не допускается" empty, А.3/А.4). Either a 4xx
    or a 200 with ``result`` > 0 is a conformant refusal (E11, E12); one that is
    not JSON, or whose ``result`` is missing or < 0, is non-strict.
    """
    checks.not_a_server_error(ex)
    answer = parse(ex)
    verdict = outcome(answer, key)
    if verdict == "success":
        raise fail(f"a refusal: {why}", _show(answer), ex)
    if verdict == "unclear":
        raise fail(
            f"a refusal ({why}): a 4xx, or a 2xx with result > 0 (А.3: result is never empty)",
            _show(answer),
            ex,
        )
    if answer.has(key) and key == "url":
        raise fail("no url in a refusal: a link to nothing (А.4)", _show(answer), ex)
    if answer.doc is not None and not _message(answer):
        raise fail(
            f"a non-empty resultMessage saying why ({why}; А.3/А.4: empty 'Не допускается')",
            _show(answer),
            ex,
        )
    if answer.has(key):  # "Допускается, если result > 0" permits it empty, does not forbid it
        raise non_strict(f"no {key} in a refusal (empty when result > 0, А.3)", _show(answer), ex)
    if answer.doc is None:
        raise non_strict(
            f"a JSON answer with result > 0 and resultMessage ({why})", _show(answer), ex
        )
    number = _number(answer.result)
    if number is None or number <= 0:
        raise non_strict(
            f"result > 0 saying why ({why}; E11: errors are result > 0)", _show(answer), ex
        )
    return answer


def _number(result: Any) -> float | None:
    if isinstance(result, bool):
        return None
    if isinstance(result, int | float):
        return float(result)
    if isinstance(result, str):
        try:
            return float(result)
        except ValueError:
            return None
    return None


def _message(answer: Answer) -> bool:
    msg = answer.value("resultMessage")
    return isinstance(msg, str) and msg.strip() != ""


def _show(answer: Answer) -> str:
    text = answer.ex.summary()
    return text if answer.problem is None else f"{text} ({answer.problem})"
