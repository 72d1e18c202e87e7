"""Section 1.4.1 "Формирование заголовков": X-Client-ID names the client.

"В каждом отправляемом запросе (уведомлении) в заголовке POST-запроса
присутствует параметр «header.X-Client-ID» ... По этому коду
идентифицируется абонент услуги"
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.engine import checks
from conformance.engine.drivers import CrmWebhook
from conformance.engine.verdict import Verdict
from conformance.roles.crm_webhook._common import crm_case, notification


def _foreign_id(own: str) -> str:
    return "00000" + own[5:][::-1] if own[5:] != own[5:][::-1] else own + "F"


@crm_case(
    "crm.identity.foreign-signed",
    section="1.4.1",
    title="Another client's X-Client-ID is refused even when signed with it",
    requirement="The receiver verifies against its configured client id, not the one the "
    "request claims, so a foreign X-Client-ID is refused.",
)
def test_foreign_id_signed_with_it_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    foreign = _foreign_id(crm.target.client_id)
    headers = crm.headers(body, client_id=foreign, sign=crm.sign(body, client_id=foreign))
    checks.refused(crm.post(body, headers))


@crm_case(
    "crm.identity.foreign",
    section="1.4.1",
    title="Another client's X-Client-ID with our signature is refused",
    requirement="A notification whose X-Client-ID is not the client's is not acknowledged.",
)
def test_foreign_id_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    headers = crm.headers(body, client_id=_foreign_id(crm.target.client_id), sign=crm.sign(body))
    checks.refused(crm.post(body, headers))


@crm_case(
    "crm.identity.missing",
    section="1.4.1",
    title="A notification without X-Client-ID is refused",
    requirement="Every notification carries X-Client-ID; one without it is not acknowledged.",
)
def test_missing_id_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    headers = [h for h in crm.headers(body) if h[0] != "X-Client-ID"]
    checks.refused(crm.post(body, headers))


@crm_case(
    "crm.identity.empty",
    section="1.4.1",
    title="An empty X-Client-ID is refused",
    requirement="A notification whose X-Client-ID is empty is not acknowledged.",
)
def test_empty_id_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    headers = crm.headers(body, client_id="", sign=crm.sign(body))
    checks.refused(crm.post(body, headers))


@crm_case(
    "crm.identity.none",
    section="1.4.1",
    title="A notification with neither header is refused",
    requirement="A notification with no X-Client-ID and no X-Client-Sign is not acknowledged.",
)
def test_no_headers_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    checks.refused(crm.post(body, [("Content-Type", "application/json")]))


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
def test_header_name_case_accepted(crm: CrmWebhook, casing: str) -> None:
    doc = notification()
    crm.announce(doc)
    body = crm.body(doc)
    headers = [(CASINGS[casing](name), value) for name, value in crm.headers(body)]
    checks.accepted(crm.post(body, headers))


@crm_case(
    "crm.headers.content-type-charset",
    section="1.4.1",
    title="A content type with a charset parameter is accepted",
    requirement="Content-Type: application/json; charset=utf-8 is the media type the guide "
    "names (RFC 9110 8.3); the guide prints it without the parameter, so a refusal is "
    "non-strict.",
)
def test_content_type_charset_accepted(crm: CrmWebhook) -> None:
    doc = notification()
    crm.announce(doc)
    body = crm.body(doc)
    headers = [("Content-Type", "application/json; charset=utf-8"), *crm.headers(body)[1:]]
    checks.accepted(crm.post(body, headers), otherwise=Verdict.NON_STRICT)
