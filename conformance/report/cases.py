"""One case of results.json as the page shows it: verdict, section, exchanges, bodies, curl.

Plain data for ``templates/case.html.j2`` (no markup: the template escapes every
string), and the order and element ids the page gives cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.report import curl
from conformance.report.text import as_map, counted, ms, pretty_json, s
from conformance.spec.sections import (
    direction_of,
    method_of,
    section_anchor,
    section_heading,
    section_key,
)
from conformance.transport.client import body_bytes

#: The suite's own fault (an unexpected exception in a case): never the target's fail.
ERROR = "error"
#: Verdicts in the order the page lists them: the suite's errors (in their own
#: section), then the target's, the worst first.
VERDICTS = (ERROR, "fail", "non-strict", "info", "skip", "pass")
#: Cases whose every exchange gets a curl reproduction.
REPRODUCED = frozenset({"fail", "non-strict"})
DIRECTION_LABELS = {"to-crm": "to the CRM", "from-crm": "from the CRM"}
ROLE_LABELS = {
    "crm-webhook": "CRM webhook (the suite plays the PBX)",
    "crm-client": "CRM requests (the suite plays the PBX API)",
    "pbx-api": "PBX API (the suite plays the CRM)",
    "pbx-events": "PBX notifications (the suite is the CRM's webhook)",
}
#: Characters of a body shown in the page (results.json has them all).
MAX_SHOWN = 256 * 1024


# -- order and ids ---------------------------------------------------------------


def verdict_rank(verdict: str) -> int:
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)


def ordered_cases(cases: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Failures first: fail, non-strict, info, skip, pass (unknown last); then by id."""
    return sorted(cases, key=lambda c: (verdict_rank(s(c.get("verdict"))), s(c.get("id"))))


def slug(text: str) -> str:
    """``text`` in letters, digits and ``-``: ``crm.sign.altered[x]`` -> ``crm-sign-altered-x``."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")


def dom_id(prefix: str, source_id: str) -> str:
    """The element id of a case (prefix ``case``) or diagnosis, before de-duplication."""
    return f"{prefix}-{slug(source_id) or prefix}"


class DomIds:
    """Element ids from case (or diagnosis) ids: readable, unique, safe in a URL fragment.

    ``<prefix>-<slug>`` holds letters, digits and ``-`` only, so the ids derived
    from it (``__body``, ``__ex<n>``, ``__ex<n>__curl``) never meet another's.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._used: set[str] = set()

    def make(self, source_id: str) -> str:
        base = dom_id(self._prefix, source_id)
        made, n = base, 1
        while made in self._used:
            n += 1
            made = f"{base}-{n}"
        self._used.add(made)
        return made


@dataclass(frozen=True)
class Body:
    """A body as shown: ``shown`` (at most MAX_SHOWN characters) and ``pretty`` if it helps."""

    empty: bool
    note: str = ""
    json: bool = False
    pretty: str | None = None
    shown: str = ""
    more: int = 0


@dataclass(frozen=True)
class Half:
    """A request or a response."""

    headers: list[tuple[str, str]]
    body: Body


@dataclass(frozen=True)
class Exchange:
    """One request and its answer; ``n`` counts from 1 in its case."""

    element: str
    n: int
    #: The HTTP method (``POST``); ``method`` is the API's (``call_events``, ``other``).
    verb: str
    url: str
    method: str
    direction: str
    direction_label: str
    request: Half
    #: None: no answer.
    response: Half | None
    status: str
    status_class: str
    elapsed: str
    error: str
    #: For a request the suite answered as the PBX: which reading its answer took.
    answered_as: str
    #: The curl reproduction ("" where the case's verdict gets none).
    curl: str


@dataclass(frozen=True)
class Case:
    """A case of results.json; ``element`` is its element id (``case-<slug>``)."""

    element: str
    id: str
    verdict: str
    verdict_class: str
    section: str
    anchor: str
    heading: str
    role: str
    role_label: str
    methods: str
    directions: str
    title: str
    requirement: str
    detail: str
    exchanges: list[Exchange]

    @property
    def lines(self) -> list[str]:
        """The detail's first two lines, for the collapsed row."""
        return self.detail.strip().splitlines()[:2]


# -- from results.json -----------------------------------------------------------


def case_view(case: Mapping[str, Any], element: str, client_id: str) -> Case:
    verdict = s(case.get("verdict"))
    section = section_key(s(case.get("section")))
    exchanges = [e for e in case.get("exchanges") or [] if isinstance(e, Mapping)]
    kinds = [method_of(s(as_map(e.get("request")).get("url"))) for e in exchanges]
    reproduce = verdict in REPRODUCED
    return Case(
        element=element,
        id=s(case.get("id")),
        verdict=verdict,
        verdict_class=f"v-{verdict}" if verdict in VERDICTS else "v-unknown",
        section=section,
        anchor=section_anchor(section),
        heading=section_heading(section),
        role=s(case.get("role")),
        role_label=ROLE_LABELS.get(s(case.get("role")), s(case.get("role"))),
        methods=" ".join(sorted(set(kinds))),
        directions=" ".join(sorted({direction_of(m) for m in kinds})),
        title=s(case.get("title")),
        requirement=s(case.get("requirement")),
        detail=s(case.get("detail")),
        exchanges=[
            _exchange(e, f"{element}__ex{n}", n, client_id, reproduce=reproduce)
            for n, e in enumerate(exchanges, 1)
        ],
    )


def _exchange(
    exchange: Mapping[str, Any], element: str, n: int, client_id: str, *, reproduce: bool
) -> Exchange:
    request = as_map(exchange.get("request"))
    response = exchange.get("response")
    answered = isinstance(response, Mapping)
    status = as_map(response).get("status")
    url = s(request.get("url"))
    method = method_of(url)
    direction = direction_of(method)
    return Exchange(
        element=element,
        n=n,
        verb=s(request.get("method")),
        url=url,
        method=method,
        direction=direction,
        direction_label=DIRECTION_LABELS.get(direction, ""),
        request=_half(request),
        response=_half(as_map(response)) if answered else None,
        status=s(status),
        status_class=(
            f"s-{status // 100}xx"
            if answered and isinstance(status, int) and 100 <= status <= 599
            else "s-none"
        ),
        elapsed="received" if exchange.get("received") else ms(exchange.get("elapsed_ms")),
        error=s(exchange.get("error")) if exchange.get("error") else "",
        answered_as=s(exchange.get("answered_as")) if exchange.get("answered_as") else "",
        curl=curl.reproduce(exchange, client_id) if reproduce else "",
    )


def _half(part: Mapping[str, Any]) -> Half:
    headers = [
        (s(pair[0]), s(pair[1]))
        for pair in part.get("headers") or []
        if isinstance(pair, list | tuple) and len(pair) == 2
    ]
    return Half(headers, _body(part))


def _body(part: Mapping[str, Any]) -> Body:
    raw = body_bytes(part)
    if not raw:
        return Body(empty=True)
    note = counted(len(raw), "byte")
    try:
        text = raw.decode("utf-8")
        pretty = pretty_json(text)
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "backslashreplace")
        note += ", not UTF-8: other bytes shown as \\xNN"
        pretty = None
    return Body(
        empty=False,
        note=note,
        json=pretty is not None,
        pretty=pretty if pretty != text else None,
        shown=text[:MAX_SHOWN],
        more=max(len(text) - MAX_SHOWN, 0),
    )
