"""Table А.4 from the PBX's side: what a CRM does with a recording link, and with a refusal."""

from __future__ import annotations

from collections import defaultdict

import pytest

from conformance.grading import client as judge
from conformance.grading.verdict import fail, non_strict
from conformance.roles.crm_client._common import METHODS, cite, client_case, evidence, listed, sent
from conformance.spec import signing
from conformance.sut.crm_client import Traffic
from conformance.transport.client import Exchange
from conformance.transport.listener import Received


@client_case(
    "client.link.once",
    section="А.4",
    title="A recording link is downloaded once, while it is valid",
    requirement="A link get_record gave is single-use and temporary (А.4): it is not "
    "downloaded again once delivered, and is fetched before it expires (late is non-strict).",
)
def test_link_once(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    fetched: dict[str, list[Received]] = defaultdict(list)
    for r in sent(client_traffic, wire_log, "link"):
        fetched[r.path.rsplit("/", 1)[-1]].append(r)
    again: list[Received] = []
    late: list[Received] = []
    for token, requests in fetched.items():
        link = client_traffic.links.get(token)
        if link is None or link.redirected:
            continue  # not a link the PBX gave (client.path), or not delivered here
        delivered = next((i for i, r in enumerate(requests) if r.status == 200), None)
        if delivered is not None and len(requests) > delivered + 1:
            again += requests[delivered:]
        if requests[0].at - link.issued_at > link.ttl:
            late.append(requests[0])
    if again:
        raise fail(
            "one download of a single-use link (А.4)",
            f"downloaded again after it was delivered: {listed(again, wire_log)}",
            *evidence(again),
        )
    if late:
        raise non_strict(
            "a temporary link fetched before it expires (А.4: «временная ссылка»)",
            f"first fetched after its lifetime: {listed(late, wire_log)}",
            *evidence(late),
        )


@client_case(
    "client.link.redirect",
    section="А.4",
    title="A recording link's redirect off the PBX is not followed with credentials",
    requirement="A CRM does not follow a recording link's redirect to another origin with "
    "its X-Client-ID, X-Client-Sign or a body (fail); following it with a plain GET is "
    "non-strict.",
)
def test_link_redirect(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    redirected = {t for t, link in client_traffic.links.items() if link.redirected}
    offered = [r for r in client_traffic.of_kind("link") if r.path.rsplit("/", 1)[-1] in redirected]
    if not offered:
        pytest.skip(
            "the CRM fetched no link whose download redirects: only the round trip (with "
            "--crm-url) offers one, and the CRM asked for no link of its redirected call"
        )
    cite(wire_log, offered)
    followed = client_traffic.of_kind("decoy")
    leaked = [
        r
        for r in followed
        if r.header(signing.CLIENT_ID_HEADER) is not None
        or r.header(signing.SIGN_HEADER) is not None
        or r.method not in ("GET", "HEAD")
        or r.body
    ]
    if leaked:
        raise fail(
            f"no request to {client_traffic.decoy_url}, the origin the PBX's 302 named, "
            "carrying the client's credentials or a body",
            listed(leaked, wire_log),
            *evidence(leaked),
        )
    if followed:
        raise non_strict(
            f"the link's download not followed off the PBX's origin to {client_traffic.decoy_url}",
            f"followed with a plain GET: {listed(followed, wire_log)}",
            *evidence(followed),
        )


@client_case(
    "client.retry",
    section="3.1.3",
    title="A refused request is not retried in a storm",
    requirement=f"After a refusal the same request is not sent again {judge.STORM_RETRIES} or "
    f"more times in a row, each less than {judge.STORM_GAP_S:g} s after the one before (every "
    "try counts against the method's limit, 3.1.3; a pause or a backoff is fine).",
)
def test_retry(client_traffic: Traffic, wire_log: list[Exchange]) -> None:
    every = sent(client_traffic, wire_log, *METHODS)
    if not any(judge.refused(r) for r in every):
        pytest.skip(
            "the PBX refused none of the CRM's requests, so no retry could be seen (the round "
            "trip, with --crm-url, refuses one get_record on purpose)"
        )
    found = judge.storms(every)
    if found:
        storm = found[0]
        raise fail(
            f"a pause before trying a refused request again (fewer than {judge.STORM_RETRIES} "
            f"tries each within {judge.STORM_GAP_S:g} s of the last)",
            f"{len(storm) - 1} tries in {storm[-1].at - storm[0].at:.1f} s after HTTP "
            f"{storm[0].status}: {listed(storm, wire_log, 1)}",
            *evidence(storm),
        )
