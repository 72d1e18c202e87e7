"""Section 1.4.1 "Формирование заголовков": X-Client-ID names the client.

"В каждом отправляемом запросе (уведомлении) в заголовке POST-запроса
присутствует параметр «header.X-Client-ID» ... По этому коду
идентифицируется абонент услуги"

The identity faults are rows of spec/mutations.py. A request whose
X-Client-ID is missing, empty or foreign but whose signature is right for the
configured id and key was made by the key holder: accepting it is lenient
(non-strict), not a breach; only a request nobody but a forger could make is
failed when processed (DECISIONS D6).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.grading import checks
from conformance.grading.verdict import Verdict
from conformance.roles.crm_webhook._common import crm_case, mutation_params, run_mutation
from conformance.spec import mutations
from conformance.sut.controls import CrmControls
from conformance.sut.drivers import CrmWebhook


@pytest.mark.parametrize("row", mutation_params("identity"))
def test_identity_fault(
    crm: CrmWebhook, crm_controls: CrmControls, row: mutations.Mutation
) -> None:
    run_mutation(crm, crm_controls, row)


def _alternating(name: str) -> str:
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))


CASINGS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "mixed": _alternating,
}


@pytest.mark.parametrize("casing", sorted(CASINGS))
@crm_case(
    "crm.headers.name-case",
    section="1.4.1",
    title="Header names in any letter case are understood",
    requirement="HTTP field names are case-insensitive (RFC 9110 5.1), so X-Client-ID and "
    "X-Client-Sign are found whatever their letter case.",
)
def test_header_name_case_accepted(crm: CrmWebhook, crm_controls: CrmControls, casing: str) -> None:
    body = crm.body(crm_controls.require().fresh(), crm.spelling)
    headers = [(CASINGS[casing](name), value) for name, value in crm.headers(body)]
    checks.accepted(crm.post(body, headers, expect="accept"))


@crm_case(
    "crm.headers.content-type-charset",
    section="1.4.1",
    title="A content type with a charset parameter is accepted",
    requirement="Content-Type: application/json; charset=utf-8 is the media type the guide "
    "names (RFC 9110 8.3); the guide prints it without the parameter, so a refusal is "
    "non-strict.",
)
def test_content_type_charset_accepted(crm: CrmWebhook, crm_controls: CrmControls) -> None:
    body = crm.body(crm_controls.require().fresh(), crm.spelling)
    headers = [("Content-Type", "application/json; charset=utf-8"), *crm.headers(body)[1:]]
    checks.accepted(crm.post(body, headers, expect="accept"), otherwise=Verdict.NON_STRICT)
