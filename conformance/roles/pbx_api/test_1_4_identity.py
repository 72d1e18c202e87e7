"""Sections 1.4.1 and 1.4.2 from the PBX's side: it identifies the caller and checks the signature.

"при получении запроса принимающая сторона проводит для каждого запроса
повторное вычисление подписи и сравнивает получившееся значение со
значением из заголовка «header.X-Client-Sign»." A request that fails is not
carried out: no call is placed, no link is given.

The faults are the rows of spec/mutations.py -- the table the crm-webhook role
sends to a CRM -- each sent as a ``call_back`` and as a ``get_record``. A
refusal counts only where the same request, correctly signed, succeeds (the
control): for ``call_back`` the run's shared call (the same body; another call
per case would ring the phones again, D25), for ``get_record`` the same request
for the recorded call, sent after the fault by the transport the PBX serves.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.grading import answers
from conformance.grading.readings import Reading
from conformance.grading.verdict import case_param, info, non_strict
from conformance.roles.pbx_api._common import ROLE, pbx_case
from conformance.spec import mutations
from conformance.sut.calls import PlacedCall
from conformance.sut.drivers import PbxApi
from conformance.transport.client import Exchange

METHODS = ("call_back", "get_record")
#: Rows with no PBX form: changing a value of a call_back changes whom it rings, of a
#: get_record which call it asks for -- either way a refusal for another reason (D25).
NOT_SENT = frozenset({"sign.body-altered"})


def _params() -> list[Any]:
    return [
        case_param(
            (row, method),
            variant=f"{method}-{row.variant}" if row.variant else method,
            id=f"pbx.{row.base_id}",
            title=row.title,
            section=row.section,
            requirement=row.requirement,
            role=ROLE,
            needs={"calls", "listen"} if method == "get_record" else {"calls"},
        )
        for row in mutations.TABLE
        if row.base_id not in NOT_SENT
        for method in METHODS
    ]


@pbx_case(
    "pbx.sign.valid",
    section="1.4.2",
    title="A correctly signed call_back is carried out",
    requirement="A call_back whose X-Client-Sign is sha256hex(id + body + key) is answered "
    "with success and a session_id.",
    needs={"calls"},
)
def test_valid(call_back_answers: list[PlacedCall], wire_log: list[Exchange]) -> None:
    wire_log.append(call_back_answers[0].answer)
    answers.succeeded(call_back_answers[0].answer, "session_id")


def _call_back(pbx: PbxApi, row: mutations.Mutation) -> Exchange:
    doc = pbx.call()
    body = pbx.body(doc)
    faulted = row.apply(pbx.signed(body, body, pbx.body(doc, "spaced-colon")))
    assert faulted is not None, f"{row.base_id} applies to a call_back"
    return pbx.faulted("POST", pbx.url("call_back"), faulted)


def _get_record(pbx: PbxApi, row: mutations.Mutation, session_id: str, transport: str) -> Exchange:
    verb, url, data, body = pbx.get_record_parts(session_id, transport)
    respelled = pbx.body({"session_id": session_id}, "spaced-colon") if body else None
    faulted = row.apply(pbx.signed(data, body, respelled))
    if faulted is None:
        pytest.skip(f"{row.fault}: a query string has no other spelling (E5, D21)")
    return pbx.faulted(verb, url, faulted)


@pytest.mark.parametrize("row_method", _params())
def test_signature_and_identity_faults(
    pbx: PbxApi, row_method: tuple[mutations.Mutation, str], request: pytest.FixtureRequest
) -> None:
    row, method = row_method
    if method == "call_back":
        request.getfixturevalue("call_back_control")
        ex, key = _call_back(pbx, row), "session_id"
    else:
        call: PlacedCall = request.getfixturevalue("recorded_call")
        transports: Reading = request.getfixturevalue("get_record_transports")
        assert call.session_id is not None
        used = transports.used
        if used is None:
            pytest.skip("the PBX gives no link by any transport (pbx.get-record.link says why)")
        ex, key = _get_record(pbx, row, call.session_id, used), "url"
        control = pbx.get_record(call.session_id, transport=used, expect="accept")
        if not answers.success(control, "url"):
            pytest.skip(
                "inconclusive: the same get_record, correctly signed, gave no link: "
                f"{control.summary()}"
            )
    if row.kind == "reading":
        if not answers.success(ex, key):
            answers.refused(ex, key, why=row.fault)  # a 5xx or an unclear answer fails
        accepted = "accepted" if answers.success(ex, key) else "refused"
        raise info(f"{row.fault}: either answer is conformant", f"{accepted}: {ex.summary()}", ex)
    if row.kind == "key-holder" and answers.success(ex, key):
        raise non_strict(
            f"a refusal of {row.fault}",
            f"carried out ({ex.summary()}); only the key holder can sign it, so this is "
            "lenient, not a breach (D6)",
            ex,
        )
    answers.refused(ex, key, why=row.fault)
