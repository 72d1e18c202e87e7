"""Diagnoses (grading/diagnose.py): each rule fires on the evidence it needs, and only then.

(Over 400 lines: one test per rule and per way a rule must stay silent, sharing the run
builders at the top.)

Every document here is built by hand with the small builders below, in the
shape results.json has (cases, exchanges, ``expect``, ``evidence``,
``signed_correctly``). Each rule has a document where it fires and controls
where the same symptoms lack the evidence and it must stay silent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.grading.diagnose import diagnose
from conformance.grading.jsonfeatures import features, shape, spelling
from conformance.spec import jsontext

EVENTS = "http://crm.test/hook/call_events"
CALL_BACK = "http://pbx.test/api/call_back"
OK = b'{"result": 0, "resultMessage": "accepted"}'
BAD_SIGN = b'{"result": 1, "resultMessage": "X-Client-Sign does not match"}'
CRASH = b'{"result": 1, "resultMessage": "internal error"}'
#: A disconnected notification of Table А.2, Cyrillic and a slash included.
VALUE: dict[str, Any] = {
    "state": "disconnected",
    "type": "incoming",
    "session_id": "s-1",
    "timestamp": "1511753600",
    "from_number": "+74951234567",
    "request_number": "user@domain.ru",
    "request_pin": 317,
    "disconnect_reason": "Отбой вызывающего абонента (A/B)",
    "is_record": True,
}


# -- builders ------------------------------------------------------------------------


def spelt(value: dict[str, Any], style: str = "raw-utf8") -> bytes:
    return jsontext.render(value, jsontext.STYLES[style])


def with_(**changes: Any) -> dict[str, Any]:
    """VALUE with some fields changed; ``None`` removes a field."""
    return {k: v for k, v in {**VALUE, **changes}.items() if v is not None}


def ex(
    body: bytes | dict[str, Any],
    status: int | None = 200,
    *,
    answer: bytes = OK,
    signed: bool = True,
    expect: str | None = "accept",
    url: str = EVENTS,
) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else spelt(body)
    exchange: dict[str, Any] = {
        "request": {
            "method": "POST",
            "url": url,
            "headers": [["Content-Type", "application/json"]],
            "body": raw.decode("utf-8"),
            "signed_correctly": signed,
        },
        "response": None
        if status is None
        else {"status": status, "headers": [], "body": answer.decode("utf-8")},
        "elapsed_ms": 3.0,
    }
    if status is None:
        exchange["error"] = "no answer within 5 s (--sut-timeout)"
    if expect is not None:
        exchange["expect"] = expect
    return exchange


def case(
    case_id: str,
    verdict: str,
    *exchanges: dict[str, Any],
    section: str = "А.2",
    role: str = "crm-webhook",
    evidence: list[int] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": case_id,
        "title": f"title of {case_id}",
        "section": section,
        "requirement": "",
        "role": role,
        "verdict": verdict,
        "detail": "",
        "exchanges": list(exchanges),
    }
    if evidence is not None:
        out["evidence"] = evidence
    return out


def forged(n: int = 3, answer: bytes = BAD_SIGN, status: int = 403) -> list[dict[str, Any]]:
    """Cases sending wrong signatures, refused as they should be."""
    return [
        case(
            f"crm.sign.altered[{i}]",
            "pass",
            ex(VALUE, status, answer=answer, signed=False, expect="refuse"),
            section="1.4.2",
        )
        for i in range(n)
    ]


def doc(*cases: dict[str, Any]) -> dict[str, Any]:
    return {"cases": list(cases), "summary": {}, "target": {"client_id": "X"}}


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in diagnose(document)}


# -- the output ----------------------------------------------------------------------


def test_every_diagnosis_has_the_documented_shape() -> None:
    found = diagnose(reserialising_crm())
    assert found
    for d in found:
        assert set(d) == {
            "id",
            "title",
            "section",
            "explanation",
            "fix",
            "cases",
            "isolated_by",
            "evidence",
        }
        assert "\n" not in d["title"]
        assert d["cases"] == sorted(d["cases"])
        assert d["isolated_by"] in d["cases"]
        assert 0 < len(d["evidence"]) <= 5
        for item in d["evidence"]:
            assert set(item) == {"case", "exchange", "note"}
            assert isinstance(item["exchange"], int)
        json.dumps(d)  # plain JSON


def test_nothing_to_say_about_empty_or_odd_documents() -> None:
    assert diagnose({}) == []
    assert diagnose({"cases": None}) == []
    assert diagnose({"cases": ["x", {"exchanges": ["y", {"request": 1, "response": 2}]}]}) == []


def test_ordered_by_cases_explained_then_id() -> None:
    document = reserialising_crm()
    document["cases"] += gateway_crm()["cases"][:3]
    found = diagnose(document)
    assert [(len(d["cases"]), d["id"].rsplit(":", 1)[0]) for d in found] == [
        (3, "same-answer:fail"),
        (2, "reserialised-body"),
    ]


# -- (a) one value, two spellings ----------------------------------------------------


def reserialising_crm() -> dict[str, Any]:
    """Accepts the value only spelled the way its encoder writes it (\\uXXXX escapes).

    As the suite's spelling cases do, each refused case holds its control: the same
    value (on another call) in the spelling that is accepted.
    """
    escaped = spelt(with_(session_id="s-9"), "unicode-escaped")
    return doc(
        case("crm.sign.encoding[unicode-escaped]", "pass", ex(spelt(VALUE, "unicode-escaped"))),
        case(
            "crm.sign.encoding[raw-utf8]",
            "fail",
            ex(spelt(VALUE, "raw-utf8"), 403, answer=BAD_SIGN),
            ex(escaped),
            section="1.4.2",
        ),
        case(
            "crm.sign.encoding[compact]",
            "fail",
            ex(spelt(VALUE, "compact"), 403, answer=BAD_SIGN),
            ex(escaped),
            section="1.4.2",
        ),
        *forged(),
    )


def test_a_value_refused_in_one_spelling_and_accepted_in_another() -> None:
    found = by_id(reserialising_crm())
    d = found["reserialised-body:call_events"]
    assert "Re-serialises the body before hashing" in d["title"]
    # Only within one case: the same value accepted in another case proves nothing here
    # (another call's history may be why), as the control below shows.
    assert d["section"] == "1.4.2"
    assert d["cases"] == ["crm.sign.encoding[compact]", "crm.sign.encoding[raw-utf8]"]
    assert d["isolated_by"] == "crm.sign.encoding[raw-utf8]"  # differs in one aspect only
    assert "raw bytes" in d["fix"]
    assert "non-ASCII raw UTF-8" in d["explanation"]
    refused, accepted = d["evidence"][:2]
    assert refused == {
        "case": "crm.sign.encoding[raw-utf8]",
        "exchange": 0,
        "note": "refused, HTTP 403: non-ASCII raw UTF-8",
    }
    assert accepted == {
        "case": "crm.sign.encoding[raw-utf8]",
        "exchange": 1,
        "note": accepted["note"],
    }
    assert "\\uXXXX escapes" in accepted["note"]
    assert "layout compact" in d["evidence"][2]["note"]


def test_pairs_are_made_within_one_case() -> None:
    """The same value accepted by another case, spelled otherwise, is no evidence: that
    request met another history (its call's new first, say)."""
    document = reserialising_crm()
    for c in document["cases"][1:3]:
        del c["exchanges"][1]
    assert "reserialised-body:call_events" not in by_id(document)


def test_session_id_and_timestamp_do_not_make_another_value() -> None:
    document = reserialising_crm()
    refused = document["cases"][1]["exchanges"][0]
    refused["request"]["body"] = spelt(with_(session_id="s-2", timestamp="1511753601")).decode()
    assert "reserialised-body:call_events" in by_id(document)


def test_a_refusal_unlike_a_wrong_signature_is_a_parser_not_the_hash() -> None:
    document = reserialising_crm()
    for c in document["cases"][1:3]:
        c["exchanges"][0]["response"]["body"] = '{"error": "non-ASCII bytes in the body"}'
        c["exchanges"][0]["response"]["status"] = 400
    found = by_id(document)
    assert "reserialised-body:call_events" not in found
    d = found["spelling:call_events"]
    assert "Refuses the same value in another JSON spelling" in d["title"]
    assert d["section"] == "1.4.1"
    assert d["cases"] == ["crm.sign.encoding[compact]", "crm.sign.encoding[raw-utf8]"]


def test_the_usual_answer_to_a_wrong_signature_decides() -> None:
    """One forged request answered like the refusal does not make the refusal a signature one."""
    document = reserialising_crm()
    for c in document["cases"][1:3]:
        c["exchanges"][0]["response"]["body"] = '{"error": "non-ASCII"}'
    document["cases"].append(
        case(
            "crm.sign.uppercase-hex",
            "info",
            ex(VALUE, 403, answer=b'{"error": "non-ASCII"}', signed=False, expect=None),
        )
    )
    assert set(by_id(document)) >= {"spelling:call_events"}


def test_pbx_side_call_back_alike() -> None:
    value = {"request_number": "+74951234567", "from_sipuri": "sip:тест@cloudpbx.rt.ru"}
    document = doc(
        case(
            "pbx.sign.encoding[pretty-2]",
            "fail",
            ex(spelt(value, "pretty-2"), 401, answer=BAD_SIGN, url=CALL_BACK),
            ex(spelt(value, "escaped-everything"), url=CALL_BACK),
            role="pbx-api",
        ),
        case(
            "pbx.sign.wrong",
            "pass",
            ex(value, 401, answer=BAD_SIGN, signed=False, expect="refuse", url=CALL_BACK),
            role="pbx-api",
        ),
    )
    d = by_id(document)["reserialised-body:call_back"]
    assert d["cases"] == ["pbx.sign.encoding[pretty-2]"]
    assert "call_back requests" in d["explanation"]


@pytest.mark.parametrize(
    "control",
    [
        "same-spelling-both-ways",
        "accepted-in-both-spellings",
        "expected-refusal",
        "wrongly-signed",
        "server-error",
        "another-value",
    ],
)
def test_no_spelling_diagnosis_without_the_contrast(control: str) -> None:
    document = reserialising_crm()
    if control == "same-spelling-both-ways":  # the raw spelling is also accepted elsewhere
        document["cases"].append(case("crm.content.cyrillic", "pass", ex(spelt(VALUE))))
    elif control == "accepted-in-both-spellings":
        for c in document["cases"][1:3]:
            c["verdict"] = "pass"
            c["exchanges"][0]["response"] = {"status": 200, "headers": [], "body": ""}
    elif control == "expected-refusal":
        for c in document["cases"][1:3]:
            c["exchanges"][0]["expect"] = "refuse"
    elif control == "wrongly-signed":
        for c in document["cases"][1:3]:
            c["exchanges"][0]["request"]["signed_correctly"] = False
    elif control == "server-error":  # not a refusal: a crash is no spelling's fault
        for c in document["cases"][1:3]:
            c["exchanges"][0]["response"]["status"] = 500
    else:
        for c in document["cases"][1:3]:
            c["exchanges"][0]["request"]["body"] = spelt(with_(request_pin=318)).decode()
    assert not [d for d in by_id(document) if d.startswith(("reserialised", "spelling"))]


def test_spelling_tells_every_style_from_the_plain_one() -> None:
    """The reader against the writer: each named style differs in some aspect."""
    plain = spelling(spelt(VALUE).decode(), VALUE)
    for name, style in jsontext.STYLES.items():
        text = jsontext.render(VALUE, style).decode()
        if text != spelt(VALUE).decode():
            assert spelling(text, json.loads(text)) != plain, name
    assert plain == {
        "layout": "spaced (', ' and ': ')",
        "whitespace around": "none",
        "non-ASCII": "raw UTF-8",
        "slash": "plain /",
        "key order": ", ".join(VALUE),
    }
    crlf = spelling(spelt(VALUE, "pretty-4-crlf").decode(), VALUE)
    assert crlf["layout"] == "multi-line, CRLF line breaks"
    around = spelling(spelt(VALUE, "surrounding-whitespace").decode(), VALUE)
    assert around["whitespace around"] == "leading ' \\t\\r\\n' and trailing ' \\r\\n\\t'"
    tricky = '{"a": "x\\\\u0410 \\" , : /", "b": "\\/"}'
    assert spelling(tricky, json.loads(tricky)) == {
        "layout": "spaced (', ' and ': ')",
        "whitespace around": "none",
        "non-ASCII": "no non-ASCII text",  # \\u0410 there is a backslash and "u0410"
        "slash": "plain / and \\/ escapes",
        "key order": "a, b",
    }


# -- (b) field shape -----------------------------------------------------------------


def crashing_crm() -> dict[str, Any]:
    """A CRM that crashes on a boolean is_record (it expects the strings of production)."""
    as_string = with_(is_record="true")
    return doc(
        case("crm.field.shape[is-record-string]", "pass", ex(as_string)),
        case(
            "crm.content.minimal[new]",
            "pass",
            ex(with_(state="new", is_record=None, disconnect_reason=None)),
        ),
        case(
            "crm.content.state-type[disconnected-incoming]",
            "fail",
            ex(with_(state="new", is_record=None, disconnect_reason=None)),
            ex(VALUE, 500, answer=CRASH),
            evidence=[1],
        ),
        case(
            "crm.sign.valid",
            "fail",
            ex(as_string),
            ex(VALUE, 500, answer=CRASH),
            section="1.4.2",
            evidence=[1],
        ),
        case(
            "crm.content.guide-example[connected]",
            "info",
            ex(with_(state="connected", disconnect_reason=None), 500, answer=CRASH),
        ),
        *forged(),
    )


def test_one_shape_in_every_failure_and_no_success() -> None:
    d = by_id(crashing_crm())["field-shape:call_events:is_record:boolean"]
    assert d["title"] == "HTTP 500 whenever is_record is a boolean"
    assert d["section"] == "А.2"
    assert d["cases"] == [
        "crm.content.guide-example[connected]",
        "crm.content.state-type[disconnected-incoming]",
        "crm.sign.valid",
    ]
    # crm.sign.valid holds the minimal pair: the same notification with is_record "true".
    assert d["isolated_by"] == "crm.sign.valid"
    assert d["evidence"][0] == {
        "case": "crm.sign.valid",
        "exchange": 1,
        "note": 'HTTP 500 \'{"result": 1, "resultMessage": "internal error"}\'; '
        "is_record is a boolean",
    }
    assert d["evidence"][1]["note"] == "accepted, HTTP 200; differs in is_record"
    assert "is_record is a boolean" in d["fix"]
    assert "shows it alone" in d["explanation"]


def test_without_a_minimal_pair_the_smallest_failing_request_isolates() -> None:
    document = crashing_crm()
    document["cases"][3]["exchanges"][0] = ex(with_(state="new", is_record=None))
    d = by_id(document)["field-shape:call_events:is_record:boolean"]
    assert d["isolated_by"] == "crm.content.guide-example[connected]"  # no disconnect_reason
    assert "shows it alone" not in d["explanation"]


def test_several_shared_features_are_all_named() -> None:
    new = with_(state="new", is_record=None, disconnect_reason=None, request_pin=None)
    document = doc(
        case("crm.content.minimal[new]", "pass", ex(new)),
        *(case(f"crm.content.c{i}", "fail", ex(new), ex(VALUE, 500, answer=CRASH)) for i in (1, 2)),
    )
    (d,) = diagnose(document)
    assert d["id"] == (
        "field-shape:call_events:disconnect_reason:string+is_record:boolean"
        "+request_pin:integer+state=disconnected"
    )
    assert d["title"] == (
        "HTTP 500 whenever disconnect_reason is a non-digit string (and is_record is a "
        'boolean, request_pin is an integer, state is "disconnected")'
    )
    assert d["isolated_by"] == "crm.content.c1"


def test_no_answer_groups_apart() -> None:
    document = crashing_crm()
    for c in document["cases"][2:5]:
        c["exchanges"][-1]["response"] = None
    d = by_id(document)["field-shape:call_events:is_record:boolean"]
    assert d["title"] == "No answer whenever is_record is a boolean"
    assert "2xx" in d["fix"]


@pytest.mark.parametrize(
    "control",
    [
        "shape-also-accepted",
        "one-failure",
        "expected-refusals",
        "answered-like-a-forgery",
        "nothing-accepted",
    ],
)
def test_no_shape_diagnosis_without_the_evidence(control: str) -> None:
    document = crashing_crm()
    cases = document["cases"]
    if control == "shape-also-accepted":
        cases.append(case("crm.content.other", "pass", ex(with_(state="connected"))))
    elif control == "one-failure":
        del cases[3:5]
    elif control == "expected-refusals":
        for c in cases[2:5]:
            c["exchanges"][-1]["expect"] = "refuse"
    elif control == "answered-like-a-forgery":
        document["cases"] += forged(answer=CRASH, status=500) + forged(answer=CRASH, status=400)
        for c in cases[2:5]:
            c["exchanges"][-1]["response"]["status"] = 400
    else:
        for c in cases:
            for e in c["exchanges"]:
                if e["response"] and e["response"]["status"] == 200:
                    e["response"]["status"] = 404
    assert not [d for d in by_id(document) if d.startswith("field-shape:")]


def test_shapes_and_features() -> None:
    assert [shape(v) for v in (None, True, 0, 1.5, "", "317", "+7", "x", {}, [])] == [
        "null",
        "boolean",
        "integer",
        "number",
        "empty-string",
        "digit-string",
        "string",
        "string",
        "object",
        "array",
    ]
    assert features({"state": "new", "a": 1}, ["a", "b", "state"]) == {
        ("a", "integer"),
        ("b", "absent"),
        ("state", "string"),
        ("state", "=new"),
    }


# -- (c) same answer -----------------------------------------------------------------


def gateway_crm(verdict: str = "fail", n: int = 3) -> dict[str, Any]:
    """Every case decided by the same 502 of a proxy, whatever it sent."""
    proxy = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    cases = [
        case(
            f"crm.case.{i}",
            verdict,
            ex({"state": "new", "pad": "x" * (10 - i)}, 502, answer=proxy, expect=None),
            section=("1.4.1", "А.2", "А.2", "1.4.2")[i % 4],
        )
        for i in range(n)
    ]
    return doc(*cases, case("crm.sign.valid", "pass", ex(VALUE)))


def test_one_answer_many_failures() -> None:
    (d,) = diagnose(gateway_crm(n=4))
    assert d["id"].startswith("same-answer:fail:")
    assert len(d["id"]) == len("same-answer:fail:") + 8
    assert d["title"].startswith("4 cases fail with the same answer: HTTP 502 '<html>")
    assert d["cases"] == ["crm.case.0", "crm.case.1", "crm.case.2", "crm.case.3"]
    assert d["isolated_by"] == "crm.case.3"  # the smallest request
    assert d["section"] == "А.2"  # the most common
    assert d["evidence"][0]["case"] == "crm.case.3"


def test_one_answer_many_non_strict_verdicts_apart() -> None:
    document = gateway_crm("non-strict")
    document["cases"] += gateway_crm("fail")["cases"][:3]
    for c in document["cases"][4:]:
        c["id"] = c["id"].replace("case", "other")
    ids = sorted(d["id"].rsplit(":", 1)[0] for d in diagnose(document))
    assert ids == ["same-answer:fail", "same-answer:non-strict"]
    (strict,) = (d for d in diagnose(document) if "non-strict" in d["id"])
    assert strict["title"].startswith("3 cases are non-strict with the same answer")


def test_the_deciding_exchange_is_the_case_evidence() -> None:
    document = gateway_crm()
    for n, c in enumerate(document["cases"][:3]):
        c["exchanges"].append(ex(VALUE, answer=b"%d" % n))  # later, and not deciding
        c["evidence"] = [0]
    assert [d["id"][:17] for d in diagnose(document)] == ["same-answer:fail:"]
    for c in document["cases"][:3]:
        del c["evidence"]  # now the last exchanges decide: three different answers
    assert [d for d in diagnose(document) if d["id"].startswith("same-answer:fail")] == []


@pytest.mark.parametrize("control", ["two-cases", "different-answers", "explained", "incoming"])
def test_no_same_answer_diagnosis(control: str) -> None:
    document = gateway_crm()
    if control == "two-cases":
        del document["cases"][2]
    elif control == "different-answers":
        document["cases"][0]["exchanges"][0]["response"]["body"] = "other"
    elif control == "explained":
        document = crashing_crm()  # three cases, one answer: all explained by field-shape
        document["cases"][2]["evidence"] = [1]
        assert all(not d.startswith("same-answer") for d in by_id(document))
        return
    else:  # the suite's own listener answered: says nothing about the target
        for c in document["cases"]:
            c["role"] = "pbx-events"
    assert not [d for d in by_id(document) if d.startswith("same-answer")]


# -- (d) no baseline -----------------------------------------------------------------


def wrong_key_crm() -> dict[str, Any]:
    refused = b'{"error": "bad signature"}'
    return doc(
        case("crm.sign.valid", "fail", ex(VALUE, 403, answer=refused), section="1.4.2"),
        *(case(f"crm.content.c{i}", "fail", ex(VALUE, 403, answer=refused)) for i in range(3)),
        case("crm.sign.missing", "pass", ex(VALUE, 403, answer=refused, signed=False)),
        case("pbx.other", "fail", ex(VALUE, 500, url=CALL_BACK), role="pbx-api"),
    )


def test_nothing_accepted_is_one_diagnosis() -> None:
    found = diagnose(wrong_key_crm())
    assert [d["id"] for d in found] == ["no-baseline:crm-webhook"]
    (d,) = found
    assert d["title"] == "The CRM accepted no correctly signed notification"
    assert d["isolated_by"] == "crm.sign.valid"
    assert d["cases"] == ["crm.content.c0", "crm.content.c1", "crm.content.c2", "crm.sign.valid"]
    assert "/call_events" in d["fix"]
    assert "HTTP 403 ×5" in d["explanation"]


def test_one_accepted_notification_is_a_baseline() -> None:
    document = wrong_key_crm()
    document["cases"][1]["exchanges"].insert(0, ex(VALUE))
    assert "no-baseline:crm-webhook" not in by_id(document)


def test_nothing_accepted_by_a_pbx() -> None:
    document = doc(
        case(
            "pbx.sign.valid",
            "fail",
            ex(VALUE, None, url=CALL_BACK),
            role="pbx-api",
            section="1.4.2",
        ),
        case("pbx.events.order", "fail", ex(VALUE, None, url=CALL_BACK), role="pbx-events"),
        case("crm.sign.valid", "pass", ex(VALUE)),
    )
    d = by_id(document)["no-baseline:pbx-api"]
    assert d["title"] == "The PBX accepted no correctly signed call_back"
    assert d["cases"] == ["pbx.events.order", "pbx.sign.valid"]
    assert "no answer ×2" in d["explanation"]
