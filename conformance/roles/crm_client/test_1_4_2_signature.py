"""Section 1.4.2 from the PBX's side: a CRM signs each request over the exact bytes it sends."""

from __future__ import annotations

from conformance.grading.signatures import check_signature
from conformance.grading.verdict import fail, non_strict
from conformance.roles.crm_client._common import METHODS, client_case, listed, sent
from conformance.settings import Settings
from conformance.spec import signing
from conformance.sut.crm_client import Traffic
from conformance.transport.client import Exchange
from conformance.transport.listener import Received


@client_case(
    "client.signature",
    section="1.4.2",
    title="Requests are signed over their exact bytes",
    requirement="Every call_back and get_record carries X-Client-Sign = sha256hex(client_id + "
    "the raw body + key) in lowercase hex (a GET without a body: its raw query string, D21; "
    "uppercase is non-strict).",
)
def test_signature(
    client_traffic: Traffic, wire_log: list[Exchange], vats_settings: Settings
) -> None:
    s = vats_settings
    wrong: list[tuple[Received, str]] = []
    upper: list[Received] = []
    for r in sent(client_traffic, wire_log, *METHODS):
        got = r.header(signing.SIGN_HEADER)
        check = check_signature(s.client_id, s.client_key, r.method, r.url, r.body, got)
        r.exchange.signed_correctly = check.status == "correct"  # known here, recorded here
        claimed = r.header(signing.CLIENT_ID_HEADER)
        if check.status == "wrong" and claimed and claimed != s.client_id:
            data = signing.signed_data(r.method, r.url, r.body)
            if got and got.lower() == signing.sign(claimed, data, s.client_key):
                continue  # signed consistently for the id it claims: client.identity's finding
        if check.status == "uppercase":
            upper.append(r)
        elif check.status == "missing":
            wrong.append((r, "no X-Client-Sign"))
        elif check.status == "wrong":
            wrong.append((r, check.explanation or "not the signature of what was sent"))
    if wrong:
        causes = sorted({why for _, why in wrong})
        blamed = [r for r, _ in wrong]
        raise fail(
            "sha256hex(client_id + the bytes sent + key) (1.4.1, 1.4.2)",
            f"{'; '.join(causes)} -- on {listed(blamed, wire_log)}",
            *(r.exchange for r in blamed),
        )
    if upper:
        raise non_strict(
            "lowercase hex, as the guide prints it and every known receiver compares",
            f"uppercase on {listed(upper, wire_log)}",
            *(r.exchange for r in upper),
        )
