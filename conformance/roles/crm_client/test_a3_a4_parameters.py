"""Tables А.3 and А.4 from the PBX's side: the parameters a CRM's requests carry."""

from __future__ import annotations

from conformance.grading import client as judge
from conformance.grading.verdict import fail
from conformance.roles.crm_client._common import client_case, evidence, listed, sent
from conformance.settings import Settings
from conformance.sut.crm_client import Traffic
from conformance.transport.client import Exchange
from conformance.transport.listener import Received


@client_case(
    "client.call-back.body",
    section="А.3",
    title="call_back's parameters are as Table А.3 says",
    requirement="request_number is an E.164 number ('+' and 7 to 15 digits); from_sipuri a "
    "SIP-URI, or without it from_pin an internal number (a SIP-URI there is E3's reading).",
)
def test_call_back_parameters(
    client_traffic: Traffic, wire_log: list[Exchange], vats_settings: Settings
) -> None:
    wrong: list[tuple[Received, str]] = []
    for r in sent(client_traffic, wire_log, "call_back"):
        if isinstance(r.doc, dict):  # a body that is not JSON is client.json's finding
            problems = judge.call_back_problems(r.doc, vats_settings.profile)
            if problems:
                wrong.append((r, problems[0]))
    if wrong:
        blamed = [r for r, _ in wrong]
        causes = sorted({why for _, why in wrong})
        raise fail(
            "Table А.3's parameters",
            f"{'; '.join(causes[:3])} -- in {listed(blamed, wire_log)}",
            *evidence(blamed),
        )


@client_case(
    "client.get-record.body",
    section="А.4",
    title="get_record names the call by session_id",
    requirement="get_record carries session_id, the non-empty string a notification gave "
    "(Table А.4), in its JSON body or, sent by GET, in its query.",
)
def test_get_record_parameters(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    wrong: list[tuple[Received, str]] = []
    for r in sent(client_traffic, wire_log, "get_record"):
        params = judge.parameters(r)
        if params is None:
            continue  # a body that is not a JSON object is client.json's finding
        problem = judge.get_record_problem(params)
        if problem:
            wrong.append((r, problem))
    if wrong:
        blamed = [r for r, _ in wrong]
        raise fail(
            "session_id, a non-empty string (Table А.4)",
            f"{'; '.join(sorted({why for _, why in wrong}))} -- in {listed(blamed, wire_log)}",
            *evidence(blamed),
        )
