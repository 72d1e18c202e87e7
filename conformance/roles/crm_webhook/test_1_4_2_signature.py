"""Section 1.4.2 "Проверка подписи": the receiver recomputes the signature and compares.

"при получении запроса принимающая сторона проводит для каждого запроса
повторное вычисление подписи и сравнивает получившееся значение со
значением из заголовка «header.X-Client-Sign»."
"""

from __future__ import annotations

import hashlib

import pytest

from conformance.engine import checks
from conformance.engine.drivers import CrmWebhook
from conformance.engine.verdict import info, non_strict
from conformance.roles.crm_webhook._common import (
    SHARE_VARIANTS,
    VARIANTS,
    Variant,
    crm_case,
    notification,
)
from conformance.spec.jsontext import STYLES


@crm_case(
    "crm.sign.valid",
    section="1.4.2",
    title="A correctly signed notification is accepted",
    requirement="A notification whose X-Client-Sign equals sha256hex(id + body + key) is accepted.",
)
def test_valid_signature_accepted(crm: CrmWebhook) -> None:
    checks.accepted(crm.notify(notification()))


@crm_case(
    "crm.sign.missing",
    section="1.4.2",
    title="A notification without X-Client-Sign is refused",
    requirement="A notification that carries no X-Client-Sign header is not acknowledged.",
)
def test_missing_signature_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    headers = [h for h in crm.headers(body) if h[0] != "X-Client-Sign"]
    checks.refused(crm.post(body, headers))


@crm_case(
    "crm.sign.empty",
    section="1.4.2",
    title="An empty X-Client-Sign is refused",
    requirement="A notification whose X-Client-Sign is empty is not acknowledged.",
)
def test_empty_signature_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    checks.refused(crm.post(body, crm.headers(body, sign="")))


def _flip(sign: str, position: int) -> str:
    digit = sign[position]
    swapped = "0" if digit != "0" else "1"
    return sign[:position] + swapped + sign[position + 1 :]


@pytest.mark.parametrize("position", [0, 31, 63], ids=["first-digit", "middle-digit", "last-digit"])
@crm_case(
    "crm.sign.altered",
    section="1.4.2",
    title="A signature with one digit changed is refused",
    requirement="A signature that differs from the computed one in a single hex digit is refused.",
)
def test_altered_signature_refused(crm: CrmWebhook, position: int) -> None:
    body = crm.body(notification())
    checks.refused(crm.post(body, crm.headers(body, sign=_flip(crm.sign(body), position))))


@pytest.mark.parametrize("length", [32, 63], ids=["half", "one-short"])
@crm_case(
    "crm.sign.truncated",
    section="1.4.2",
    title="A truncated signature is refused",
    requirement="A prefix of the correct signature is not a correct signature.",
)
def test_truncated_signature_refused(crm: CrmWebhook, length: int) -> None:
    body = crm.body(notification())
    checks.refused(crm.post(body, crm.headers(body, sign=crm.sign(body)[:length])))


@crm_case(
    "crm.sign.extended",
    section="1.4.2",
    title="A signature with extra digits is refused",
    requirement="The correct signature followed by more characters is not a correct signature.",
)
def test_extended_signature_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    checks.refused(crm.post(body, crm.headers(body, sign=crm.sign(body) + "00")))


@crm_case(
    "crm.sign.wrong-key",
    section="1.4.2",
    title="A signature made with another key is refused",
    requirement="A notification signed with a key other than the client's is refused.",
)
def test_wrong_key_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    other_key = crm.target.client_key[::-1] + "0"
    checks.refused(crm.post(body, crm.headers(body, sign=crm.sign(body, key=other_key))))


ORDERS = {
    "key-body-id": lambda cid, body, key: key.encode() + body + cid.encode(),
    "body-id-key": lambda cid, body, key: body + cid.encode() + key.encode(),
    "id-key-body": lambda cid, body, key: cid.encode() + key.encode() + body,
    "key-body": lambda cid, body, key: key.encode() + body,
    "id-body": lambda cid, body, key: cid.encode() + body,
}


@pytest.mark.parametrize("order", sorted(ORDERS))
@crm_case(
    "crm.sign.wrong-order",
    section="1.4.1",
    title="A signature over the parts in another order is refused",
    requirement="Only sha256hex(client_id + json + key), in that order, is a valid signature.",
)
def test_wrong_concatenation_refused(crm: CrmWebhook, order: str) -> None:
    body = crm.body(notification())
    t = crm.target
    sign = hashlib.sha256(ORDERS[order](t.client_id, body, t.client_key)).hexdigest()
    checks.refused(crm.post(body, crm.headers(body, sign=sign)))


@crm_case(
    "crm.sign.uppercase-hex",
    section="1.4.2",
    title="Uppercase hex digits in the signature (recorded, not graded)",
    requirement="The guide prints lowercase hex and does not say whether uppercase is accepted; "
    "the receiver's choice is recorded.",
)
def test_uppercase_hex_recorded(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    ex = crm.post(body, crm.headers(body, sign=crm.sign(body).upper()))
    status = checks.not_a_server_error(ex)
    accepted = 200 <= status < 300
    raise info(
        "either answer: the guide does not say",
        f"uppercase hex {'accepted' if accepted else 'refused'} ({ex.summary()})",
    )


@crm_case(
    "crm.sign.body-altered",
    section="1.4.2",
    title="A body changed after signing is refused",
    requirement="A notification whose body differs from the signed one in one value is refused.",
)
def test_body_altered_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification())
    headers = crm.headers(body)
    altered = body.replace(b"76981273981237", b"76981273981238")
    checks.refused(crm.post(altered, headers))


@crm_case(
    "crm.sign.long-body",
    section="1.4.2",
    title="A long notification, correctly signed, is accepted",
    requirement="The signature covers every byte however long the body, so a correctly signed "
    "16 KiB notification is accepted (a 413 is non-strict: the guide sets no size).",
)
def test_long_body_accepted(crm: CrmWebhook) -> None:
    doc = notification(disconnect_reason="Отбой " + "x" * 16_384)
    ex = crm.notify(doc)
    if ex.status == 413:
        raise non_strict("a 2xx for 16 KiB", ex.summary())
    checks.accepted(ex)


@crm_case(
    "crm.sign.body-altered-tail",
    section="1.4.2",
    title="A long body changed near its end after signing is refused",
    requirement="The signature covers every byte of the body, so a 16 KiB notification "
    "altered in its last value is refused.",
)
def test_long_body_altered_at_the_end_refused(crm: CrmWebhook) -> None:
    body = crm.body(notification(disconnect_reason="Отбой " + "x" * 16_384 + "a"))
    headers = crm.headers(body)
    altered = body.replace(b'xa"', b'xb"')
    assert altered != body
    checks.refused(crm.post(altered, headers))


@crm_case(
    "crm.sign.body-respaced",
    section="1.4.2",
    title="A body re-spaced after signing is refused",
    requirement="The signature covers the raw bytes: the same JSON value in other bytes "
    "does not carry the original signature.",
)
def test_body_respaced_refused(crm: CrmWebhook) -> None:
    doc = notification()
    headers = crm.headers(crm.body(doc, "pretty-2"))
    checks.refused(crm.post(crm.body(doc, "compact"), headers))


@pytest.mark.parametrize("style", sorted(STYLES))
@crm_case(
    "crm.sign.encoding",
    section="1.4.2",
    title="A correct signature over the body as sent is accepted, whatever its JSON spelling",
    requirement="The receiver hashes the raw bytes it received, so every valid JSON spelling "
    "of a notification, correctly signed, is accepted.",
)
def test_signature_over_each_spelling_accepted(crm: CrmWebhook, style: str) -> None:
    doc = notification(disconnect_reason="Отбой вызывающего абонента (A/B)")
    checks.accepted(crm.notify(doc, style))


@crm_case(
    "crm.sign.explore-valid",
    section="1.4.2",
    title="Generated notifications in generated spellings, correctly signed, are accepted",
    requirement="Any valid notification in any valid JSON spelling, correctly signed, is accepted.",
)
def test_generated_spellings_accepted(crm: CrmWebhook) -> None:
    crm.explore(VARIANTS, lambda v: checks.accepted(crm.notify(v[0], v[1])), share=SHARE_VARIANTS)


@crm_case(
    "crm.sign.explore-invalid",
    section="1.4.2",
    title="Generated notifications with a corrupted signature are refused",
    requirement="Any notification whose signature is not the correct one is refused.",
)
def test_generated_bad_signatures_refused(crm: CrmWebhook) -> None:

    def check(variant: Variant) -> None:
        doc, style, position = variant[:3]
        body = crm.body(doc, style)
        checks.refused(crm.post(body, crm.headers(body, sign=_flip(crm.sign(body), position))))

    crm.explore(VARIANTS, check, share=SHARE_VARIANTS)
