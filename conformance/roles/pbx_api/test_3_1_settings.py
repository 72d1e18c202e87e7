"""Sections 3.1.2 and 3.1.3: the allow-list and the per-method limits (opt-in: --destructive).

"Администратор домена имеет возможность ограничивать источники запросов
(IP-адресов внешних систем)"; "ограничения на количество запросов от внешних
систем ... для каждого метода API отдельно. Например, ... не более 100
обращений в час". Probing a limit spends the client's real quota, and changing
an allow-list needs the PBX's settings: both run only with ``--destructive``.
Where the PBX offers the reference emulator's admin API (``--pbx-admin-token``;
always for the embedded one) the cases set what they test and restore it;
otherwise the limit is probed and the allow-list case skips (DECISIONS D24).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from conformance.grading import answers, checks
from conformance.grading.verdict import fail, non_strict
from conformance.roles.pbx_api._common import UNKNOWN_SESSION, pbx_case
from conformance.sut.drivers import PbxApi, unique_session
from conformance.transport.client import Exchange

#: Without the admin API: at most this many get_record requests look for the limit.
PROBE = 150
#: With it: the limit set for the probe.
SMALL_LIMIT = 3
#: An address no test machine has (TEST-NET-1, RFC 5737).
ELSEWHERE = "192.0.2.1"


def _admin(pbx: PbxApi, method: str, path: str, doc: Any = None) -> Any:
    token = pbx.settings.pbx_admin_token
    assert token is not None
    body = b"" if doc is None else json.dumps(doc).encode()
    url = f"{pbx.target.url}/admin/clients/{pbx.target.client_id}/{path}"
    ex = pbx.send(method, url, body, [("Authorization", f"Bearer {token}")])
    if ex.status != 200:
        raise fail(f"the admin API to answer {method} {path}", ex.summary())
    return json.loads(ex.response_body)


@contextmanager
def _limited(pbx: PbxApi) -> Iterator[None]:
    before = _admin(pbx, "GET", "methods")["methods"]["get_record"]["limit"]
    _admin(pbx, "PATCH", "methods/get_record", {"limit": {"count": SMALL_LIMIT, "period": 3600}})
    try:
        yield
    finally:
        _admin(pbx, "PATCH", "methods/get_record", {"limit": before})


def _signature(ex: Exchange) -> tuple[int | None, Any]:
    return ex.status, answers.parse(ex).result


@pbx_case(
    "pbx.limits.rate-limit",
    section="3.1.3",
    title="Requests beyond a method's limit are refused with a clear error",
    requirement="Past the per-method limit the PBX refuses requests (result > 0, a message), "
    "distinguishably from other errors; none seen within the probe is non-strict.",
    destructive=True,
)
def test_rate_limit(pbx: PbxApi) -> None:
    baseline = pbx.get_record(unique_session(UNKNOWN_SESSION))
    if baseline.status == 429:  # the run's own requests reached the limit already
        answers.refused(baseline, "url", why="the method's limit is reached")
        pbx.note(f"limit reached before the probe: {baseline.summary()}")
        return
    answers.refused(baseline, "url", why="no call has this session_id")
    admin = pbx.settings.pbx_admin_token is not None
    with _limited(pbx) if admin else _nothing():
        budget = SMALL_LIMIT + 2 if admin else PROBE
        mark = len(pbx.log)
        for _ in range(budget):
            ex = pbx.get_record(unique_session(UNKNOWN_SESSION))
            checks.not_a_server_error(ex)
            if _signature(ex) != _signature(baseline):
                answers.refused(ex, "url", why="the method's limit is reached")
                pbx.note(f"limit reached: {ex.summary()}")
                return
            del pbx.log[mark:-1]  # keep the wire log short: the probe's last answer only
    expected = f"a limit refusal within {budget} get_record requests (3.1.3)"
    actual = f"every answer was like the first: {baseline.summary()}"
    if admin:  # the case set the limit itself: ignoring it is a defect
        raise fail(f"{expected}, the limit being {SMALL_LIMIT}", actual)
    raise non_strict(f"{expected}; this PBX's limit may be higher", actual)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@pbx_case(
    "pbx.allow-list.refused",
    section="3.1.2",
    title="Requests from an address not on the allow-list are refused",
    requirement="With an allow-list that does not hold the suite's address, a correctly "
    "signed call_back is refused.",
    destructive=True,
    needs={"calls"},
)
def test_allow_list(pbx: PbxApi) -> None:
    if pbx.settings.pbx_admin_token is None:
        pytest.skip(
            "changing the PBX's allow-list needs its admin API (--pbx-admin-token); "
            "set it in the personal account and check by hand (3.1.2)"
        )
    doc = pbx.call()
    before = _admin(pbx, "GET", "allow-list")["allow_list"]
    _admin(pbx, "PUT", "allow-list", {"allow_list": [ELSEWHERE]})
    try:
        ex = pbx.call_back(doc)
    finally:
        _admin(pbx, "PUT", "allow-list", {"allow_list": before})
    answers.refused(ex, "session_id", why=f"the allow-list holds only {ELSEWHERE}")
