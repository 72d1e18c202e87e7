"""Section 1.4.2 from the PBX's side: a CRM signs each request over the exact bytes it sends."""

from __future__ import annotations

import pytest

from conformance.grading.signatures import check_signature
from conformance.grading.verdict import fail, info, non_strict
from conformance.roles.crm_client._common import METHODS, client_case, evidence, listed, sent
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
    "the raw body + key) in lowercase hex (a GET without a body: its raw query string, D21, "
    "or the JSON of its parameters, E5: info; over nothing, or uppercase: non-strict).",
)
def test_signature(
    client_traffic: Traffic, wire_log: list[Exchange], vats_settings: Settings
) -> None:
    wrong: list[tuple[Received, str]] = []
    found: dict[str, list[Received]] = {"unbound": [], "upper": [], "reading": []}
    requests = sent(client_traffic, wire_log, *METHODS)
    if not any(r.complete for r in requests):
        pytest.skip("no request's body was read whole, so no signature can be checked")
    for r in requests:
        judged = _judge(r, vats_settings)
        if judged is None:
            continue
        kind, why = judged
        if kind == "wrong":
            wrong.append((r, why))
        else:
            found[kind].append(r)
    unbound, upper, readings = found["unbound"], found["upper"], found["reading"]
    if wrong:
        causes = sorted({why for _, why in wrong})
        blamed = [r for r, _ in wrong]
        raise fail(
            "sha256hex(client_id + the bytes sent + key) (1.4.1, 1.4.2)",
            f"{'; '.join(causes)} -- on {listed(blamed, wire_log)}",
            *evidence(blamed),
        )
    if unbound:
        raise non_strict(
            "a GET's signature over its raw query string (D21), which binds the session_id",
            f"signed over an empty string: one signature then serves every session -- on "
            f"{listed(unbound, wire_log)}",
            *evidence(unbound),
        )
    if upper:
        raise non_strict(
            "lowercase hex, as the guide prints it and every known receiver compares",
            f"uppercase on {listed(upper, wire_log)}",
            *evidence(upper),
        )
    if readings:
        raise info(
            "a GET signed over its raw query string (D21)",
            f"signed over the JSON of its parameters, the other reading of E5 (the guide "
            f"signs 'client_id + json + key' and a GET has no JSON body): "
            f"{listed(readings, wire_log)}",
        )


def _judge(r: Received, s: Settings) -> tuple[str, str] | None:
    """What is wrong with one request's signature: ``(kind, why)``, None when nothing is
    (or it is another case's to judge). Records ``signed_correctly`` on its exchange."""
    if not r.complete:
        return None  # a body not read whole cannot be hashed (client.json says so)
    got = r.header(signing.SIGN_HEADER)
    check = check_signature(s.client_id, s.client_key, r.method, r.url, r.body, got)
    r.exchange.signed_correctly = check.status == "correct"  # known here, recorded here
    claimed = r.header(signing.CLIENT_ID_HEADER)
    if check.status == "wrong" and claimed and claimed != s.client_id:
        data = signing.signed_data(r.method, r.url, r.body)
        if got and got.lower() == signing.sign(claimed, data, s.client_key):
            return None  # signed consistently for the id it claims: client.identity's finding
    if check.reading == "json-params":
        return "reading", ""  # E5: "client_id + json + key" with the parameters as JSON
    if check.reading == "empty":
        return "unbound", ""
    if check.status == "uppercase":
        return "upper", ""
    if check.status == "missing":
        return "wrong", "no X-Client-Sign"
    if check.status == "wrong":
        return "wrong", check.explanation or "not the signature of what was sent"
    return None
