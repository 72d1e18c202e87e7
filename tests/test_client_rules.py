"""The crm-client role's pure rules (grading/client.py) and its record of answers
(api_server.answered_as), on requests made up here."""

from __future__ import annotations

import json

import pytest

from conformance.api_server import answered_as, kind_of
from conformance.grading import client as judge
from conformance.grading.verdict import Finding, Verdict
from conformance.roles.crm_client.test_a4_links import test_link_once as link_once
from conformance.sut.crm_client import Link, Traffic
from conformance.transport.listener import Received


def request(
    kind: str = "get_record",
    *,
    at: float = 0.0,
    doc: object = None,
    body: bytes | None = None,
    method: str = "POST",
    status: int = 200,
    result: object = 0,
    url: str = "http://127.0.0.1:1/get_record",
) -> Received:
    raw = json.dumps(doc).encode() if body is None and doc is not None else body or b""
    return Received(
        at=at,
        method=method,
        path=f"/{kind}",
        headers=[],
        body=raw,
        remote="127.0.0.1",
        status=status,
        doc=doc,
        url=url,
        answer_body=json.dumps({"result": result}).encode(),
        kind=kind,
    )


def refused_get(at: float, session: str = "s1", **extra: object) -> Received:
    return request(at=at, doc={"session_id": session, **extra}, status=409, result=32)


def test_a_storm_is_five_tries_without_a_pause_after_a_refusal() -> None:
    storm = [refused_get(i * 0.1) for i in range(6)]
    assert judge.storms(storm) == [storm]
    assert judge.storms(storm[:5]) == []  # four tries again: not yet


def test_retries_with_a_pause_or_a_backoff_are_no_storm() -> None:
    assert judge.storms([refused_get(t) for t in (0.0, 2.0, 4.0, 6.0, 8.0, 10.0)]) == []
    # capped exponential backoff: the gaps reach a second
    backoff = (0.0, 0.3, 0.9, 2.1, 4.5, 9.3, 14.3)
    assert judge.storms([refused_get(t) for t in backoff]) == []
    # polling a recording that is not ready, once a second
    assert judge.storms([refused_get(float(t)) for t in range(20)]) == []


def test_a_storm_after_a_pause_is_still_a_storm() -> None:
    tries = [refused_get(0.0), *(refused_get(5.0 + i * 0.05) for i in range(6))]
    assert judge.storms(tries) == [tries[1:]]


def test_a_nonce_does_not_make_a_retry_another_request() -> None:
    storm = [refused_get(i * 0.01, nonce=i) for i in range(10)]
    assert judge.storms(storm) == [storm[:6]]


def test_requests_without_a_refusal_are_no_storm() -> None:
    fine = [request(at=i * 0.1, doc={"session_id": "s"}) for i in range(10)]
    assert judge.storms(fine) == []


def test_different_requests_are_not_one_storm() -> None:
    assert judge.storms([refused_get(i * 0.1, f"s{i}") for i in range(10)]) == []


def test_one_value_reencoded_is_the_same_request() -> None:
    a = request(body=b'{"session_id": "s"}', doc={"session_id": "s"})
    b = request(body=b'{"session_id":"s"}', doc={"session_id": "s"})
    assert judge.identical(a) == judge.identical(b)


@pytest.mark.parametrize(
    ("kind", "status", "result", "refused"),
    [
        ("get_record", 200, 0, False),
        ("get_record", 200, "0", False),
        ("get_record", 200, "31", True),
        ("get_record", 404, 31, True),
        ("call_back", 200, "1", False),  # E1: the guide's example of success
        ("get_record", 200, "1", True),
    ],
)
def test_refused(kind: str, status: int, result: object, refused: bool) -> None:
    assert judge.refused(request(kind, status=status, result=result)) is refused


@pytest.mark.parametrize(
    ("doc", "fine"),
    [
        ({"request_number": "+74951234567", "from_pin": "101"}, True),
        ({"request_number": "+74951234567", "from_sipuri": "sip:u@cloudpbx.rt.ru"}, True),
        ({"request_number": "+74951234567", "from_sipuri": "u@cloudpbx.rt.ru"}, True),
        ({"request_number": "+74951234567", "from_pin": "test_user@cloudpbx.rt.ru"}, True),  # E3
        # from_sipuri is used when both are given (А.3): a junk from_pin does not count
        ({"request_number": "+74951234567", "from_sipuri": "u@d.ru", "from_pin": "x"}, True),
        ({"request_number": "+74951234567", "from_sipuri": "", "from_pin": "101"}, True),
        ({"request_number": "84951234567", "from_pin": "101"}, False),
        ({"request_number": "+74951234567", "from_pin": "ext-101"}, False),
        ({"request_number": "+74951234567"}, False),
        ({"from_pin": "101"}, False),
        ({"request_number": "+74951234567", "from_sipuri": "nobody", "from_pin": "101"}, False),
    ],
)
def test_call_back_parameters(doc: dict[str, object], fine: bool) -> None:
    assert (judge.call_back_problems(doc, "guide") == []) is fine


def test_get_record_parameters_from_a_query() -> None:
    get = request(method="GET", url="http://127.0.0.1:1/get_record?session_id=abc")
    assert judge.parameters(get) == {"session_id": "abc"}
    assert judge.get_record_problem({"session_id": "abc"}) is None
    assert judge.get_record_problem({"session_id": 12345}) is not None
    assert judge.get_record_problem({"session_id": ""}) is not None
    assert judge.get_record_problem({}) is not None


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/call_back", "call_back"),
        ("/call_back/", "call_back"),
        ("/get_record", "get_record"),
        ("/records/abc", "link"),
        ("/callback", "other"),
        ("/records/a/b", "other"),
    ],
)
def test_kind_of(path: str, kind: str) -> None:
    assert kind_of(path) == kind


@pytest.mark.parametrize(
    ("kind", "status", "body", "said"),
    [
        ("call_back", 200, {"result": 0}, "HTTP 200, result 0"),
        ("call_back", 200, {"result": "1"}, "success as the guide's example writes it, E1"),
        ("get_record", 200, {"result": "31"}, "an error as HTTP 200 with result > 0"),
        ("get_record", 404, {"result": 31}, "an error as HTTP 404"),
        ("get_record", 200, {"result": "0"}, "result as a string, E2"),
    ],
)
def test_answered_as(kind: str, status: int, body: dict[str, object], said: str) -> None:
    answered = request(kind, status=status)
    answered.answer_body = json.dumps(body).encode()
    assert said in answered_as(answered)


def _link_traffic(fetched_after: float, *, fetches: int = 1) -> Traffic:
    link = Link("tok", "s1", issued_at=1000.0, ttl=300.0)
    downloads = [
        Received(
            at=1000.0 + fetched_after + i,
            method="GET",
            path="/records/tok",
            headers=[],
            body=b"",
            remote="127.0.0.1",
            status=200 if i == 0 else 410,
            url="http://127.0.0.1:1/records/tok",
            kind="link",
        )
        for i in range(fetches)
    ]
    return Traffic("http://127.0.0.1:1", "http://127.0.0.1:2", downloads, {"tok": link})


def test_a_link_fetched_once_in_time_passes() -> None:
    link_once(_link_traffic(1.0), [])


def test_a_link_fetched_after_its_lifetime_is_non_strict() -> None:
    with pytest.raises(Finding) as found:
        link_once(_link_traffic(301.0), [])
    assert found.value.verdict is Verdict.NON_STRICT
    assert "after its lifetime" in str(found.value)


def test_a_link_fetched_again_after_delivery_fails() -> None:
    with pytest.raises(Finding) as found:
        link_once(_link_traffic(1.0, fetches=2), [])
    assert found.value.verdict is Verdict.FAIL
