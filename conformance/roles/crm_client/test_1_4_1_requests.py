"""Sections 1.3 and 1.4.1 from the PBX's side: a CRM's requests go to the API's methods,
with the method's HTTP verb, its identity and a JSON body labelled as such.
"""

from __future__ import annotations

from conformance.grading import client as judge
from conformance.grading.verdict import fail, info, non_strict
from conformance.roles.crm_client._common import METHODS, client_case, evidence, listed, sent
from conformance.settings import Settings
from conformance.spec import signing
from conformance.sut.crm_client import MAX_READ, Traffic
from conformance.transport.client import Exchange
from conformance.transport.listener import Received


@client_case(
    "client.path",
    section="1.3",
    title="Requests go to the API's methods",
    requirement="Every request goes to {API address}/call_back, {API address}/get_record "
    "(the method's name after the address) or to a recording link the PBX gave (a bare "
    "GET elsewhere without the integration's headers is not attributable: info).",
)
def test_path(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    every = sent(client_traffic, wire_log, *METHODS, "link", "other")
    api = client_traffic.api_url
    unknown = [r for r in every if r.kind == "other" and _meant_for_the_api(r)]
    unknown += [
        r
        for r in every
        if r.kind == "link" and r.path.rsplit("/", 1)[-1] not in client_traffic.links
    ]
    if unknown:
        raise fail(
            f"{api}/call_back, {api}/get_record, or a link a get_record answered",
            listed(unknown, wire_log),
            *evidence(unknown),
        )
    slashed = [r for r in every if r.kind in METHODS and r.path != f"/{r.kind}"]
    if slashed:
        raise non_strict(
            "the method's name after the API address, as 1.3 and figure 2 write it",
            listed(slashed, wire_log),
            *evidence(slashed),
        )
    stray = [r for r in every if r.kind == "other"]
    if stray:
        raise info(
            "requests to the API's methods",
            f"requests without X-Client-ID or X-Client-Sign elsewhere, not attributable to "
            f"the CRM (a browser, a health check): {listed(stray, wire_log)}",
        )


def _meant_for_the_api(r: Received) -> bool:
    """A request that carries the integration's headers, a body, or a method other than
    GET/HEAD: the CRM's, meant for the API. A bare GET elsewhere (a browser, a probe) may
    be anyone's."""
    headers = r.header(signing.CLIENT_ID_HEADER) or r.header(signing.SIGN_HEADER)
    return bool(headers or r.body) or r.method not in ("GET", "HEAD")


@client_case(
    "client.method",
    section="1.4.1",
    title="call_back is POSTed; get_record by POST (or GET, E5); links fetched with GET",
    requirement="call_back is sent with POST (1.4.1); get_record with POST, or GET as Table "
    "А.4 says (E5: recorded as info); a recording link is fetched with GET (POST is "
    "non-strict: production is reported to answer it).",
)
def test_method(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    every = sent(client_traffic, wire_log, *METHODS, "link")
    allowed = {
        "call_back": ("POST",),
        "get_record": ("POST", "GET"),
        "link": ("GET", "HEAD", "POST"),
    }
    wrong = [r for r in every if r.method not in allowed[r.kind]]
    if wrong:
        raise fail(
            "call_back by POST, get_record by POST or GET, a link by GET",
            listed(wrong, wire_log),
            *evidence(wrong),
        )
    posted = [r for r in every if r.kind == "link" and r.method == "POST"]
    if posted:
        raise non_strict(
            "a recording link fetched with GET (a link is a resource to download, А.4)",
            listed(posted, wire_log),
            *evidence(posted),
        )
    by_get = [r for r in every if r.kind == "get_record" and r.method == "GET"]
    if by_get:
        raise info(
            "get_record by POST with a JSON body (1.4.1, the example) or by GET (Table А.4)",
            f"by GET (E5: the guide says both): {listed(by_get, wire_log, 1)}",
        )


@client_case(
    "client.identity",
    section="1.4.1",
    title="Requests carry the client's X-Client-ID",
    requirement="Every call_back and get_record carries X-Client-ID with the identification "
    "code the PBX issued (3.1.1).",
)
def test_identity(
    client_traffic: Traffic, wire_log: list[Exchange], vats_settings: Settings
) -> None:
    every = sent(client_traffic, wire_log, *METHODS)
    wrong = [r for r in every if r.header(signing.CLIENT_ID_HEADER) != vats_settings.client_id]
    if wrong:
        got = sorted({repr(r.header(signing.CLIENT_ID_HEADER)) for r in wrong})
        raise fail(
            f"X-Client-ID: {vats_settings.client_id}",
            f"{', '.join(got)} on {listed(wrong, wire_log)}",
            *evidence(wrong),
        )


@client_case(
    "client.content-type",
    section="1.4.1",
    title="JSON bodies are labelled application/json",
    requirement="A POSTed request's body is labelled Content-Type: application/json, as 1.4.1 "
    "names it (parameters such as charset=utf-8 are fine); another label is non-strict (D24).",
)
def test_content_type(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    every = sent(client_traffic, wire_log, *METHODS)
    posted = [r for r in every if r.method == "POST" or r.body]
    expected = "Content-Type: application/json (1.4.1: «Content-Type: application/json»)"
    unlabelled = [r for r in posted if judge.media_type(r) is None]
    if unlabelled:
        raise fail(
            expected,
            f"no Content-Type on {listed(unlabelled, wire_log)}",
            *evidence(unlabelled),
        )
    other = [r for r in posted if judge.media_type(r) != "application/json"]
    if other:
        got = sorted({repr(r.header("Content-Type")) for r in other})
        raise non_strict(
            expected, f"{', '.join(got)} on {listed(other, wire_log)}", *evidence(other)
        )


@client_case(
    "client.json",
    section="1.4.1",
    title="Request bodies are UTF-8 JSON objects",
    requirement="A POSTed request's body is a JSON object (1.4.1) in UTF-8 (RFC 8259 8.1).",
)
def test_json(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    every = sent(client_traffic, wire_log, *METHODS)
    posted = [r for r in every if r.method == "POST" or r.body]
    unread = [r for r in posted if not r.complete]
    posted = [r for r in posted if r.complete]
    wrong = [r for r in posted if not isinstance(r.doc, dict)]
    if wrong:
        why = []
        for r in wrong[:3]:
            try:
                r.body.decode("utf-8")
            except UnicodeDecodeError:
                why.append("not UTF-8")
            else:
                why.append("not a JSON object")
        raise fail(
            "a UTF-8 JSON object",
            f"{', '.join(sorted(set(why)))}: {listed(wrong, wire_log)}",
            *evidence(wrong),
        )
    if unread:
        raise non_strict(
            f"a body the PBX API reads whole (it reads {MAX_READ >> 20} MiB)",
            f"larger, not read and not judged: {listed(unread, wire_log)}",
            *evidence(unread),
        )
