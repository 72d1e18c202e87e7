"""What every case of the crm-client role shares (the suite as the PBX API a CRM calls)."""

from __future__ import annotations

import functools

import pytest

from conformance.grading.verdict import case
from conformance.sut.crm_client import Traffic
from conformance.transport.client import Exchange
from conformance.transport.listener import Received

ROLE = "crm-client"
METHODS = ("call_back", "get_record")
#: A case cites at most this many of the requests it judged (every one it blames is cited).
CITED = 20

#: ``@client_case(id, section=..., title=..., requirement=...)``
client_case = functools.partial(case, role=ROLE)


def sent(traffic: Traffic, wire_log: list[Exchange], *kinds: str) -> list[Received]:
    """The CRM's requests of ``kinds``, the first ``CITED`` in the wire log; skips, naming
    why, when the CRM sent none."""
    if not traffic.requests:
        pytest.skip(f"the CRM sent no request to the PBX API at {traffic.api_url}: {traffic.how()}")
    found = traffic.of_kind(*kinds)
    if not found:
        pytest.skip(f"the CRM sent no {' or '.join(kinds)} request ({traffic.how()})")
    cite(wire_log, found)
    return found


def cite(wire_log: list[Exchange], requests: list[Received]) -> None:
    """Add the first ``CITED`` of the requests' exchanges to the case's wire log, each once
    (a CRM that sends thousands must not make every case list them all)."""
    present = {id(ex) for ex in wire_log}
    for r in requests[:CITED]:
        if id(r.exchange) not in present:
            present.add(id(r.exchange))
            wire_log.append(r.exchange)


def evidence(requests: list[Received]) -> list[Exchange]:
    """The exchanges a finding rests on: the first ``CITED`` of the requests it blames."""
    return [r.exchange for r in requests[:CITED]]


def where(r: Received) -> str:
    """A request, as a finding names it."""
    body = r.body[:160].decode("utf-8", "replace")
    return f"{r.method} {r.path}" + (f" {body!r}" if body else "")


def listed(blamed: list[Received], wire_log: list[Exchange], limit: int = 3) -> str:
    """The blamed requests, cited, and named (the first ``limit``, and how many more)."""
    cite(wire_log, blamed)
    more = f" and {len(blamed) - limit} more" if len(blamed) > limit else ""
    return "; ".join(where(r) for r in blamed[:limit]) + more
