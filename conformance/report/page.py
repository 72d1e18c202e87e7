"""What ``index.html`` shows, as plain data: results.json (redacted) grouped, ordered, classified.

``build(document)`` returns a ``Page``; the templates (``templates/``) turn it into
HTML and escape every string in it. Nothing here is markup: ids, ``#`` targets,
texts and numbers only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.report.cases import (
    DIRECTION_LABELS,
    ERROR,
    ROLE_LABELS,
    VERDICTS,
    Case,
    DomIds,
    case_view,
    ordered_cases,
)
from conformance.report.text import as_int, as_map, counted, duration, s, when
from conformance.spec.sections import (
    METHODS,
    SECTIONS,
    section_anchor,
    section_heading,
    section_key,
)

METHOD_LABELS = {
    "call_events": "call_events: уведомление о вызовах",
    "call_back": "call_back: запрос на совершение исходящего вызова",
    "get_record": "get_record: запрос записи разговора",
    "other": "other (recording links, admin API)",
}
#: A verdict and how many cases have it.
Chip = tuple[str, int]
#: An ``<option>``: its value and its label.
Option = tuple[str, str]


# -- order and links -------------------------------------------------------------


def _section_order(section: str) -> tuple[int, list[tuple[int, int | str]]]:
    parts = section_key(section).split(".")
    appendix = 0 if parts[0].isdigit() else 1
    return appendix, [(0, int(p)) if p.isdigit() else (1, p) for p in parts]


@dataclass(frozen=True)
class Ref:
    """A link into the page (``target``: an element id) or, when its target is absent, text.

    ``n`` is an exchange's number in its case (from 1) when the link leads to one.
    """

    text: str
    target: str = ""
    n: int = 0


class _Links:
    """Links into the page: to a case, one of its exchanges, a section block."""

    def __init__(self, placed: list[tuple[Mapping[str, Any], str]], sections: list[str]) -> None:
        self._cases: dict[str, tuple[str, list[bool]]] = {}
        for case, element in placed:
            shown = [isinstance(e, Mapping) for e in case.get("exchanges") or []]
            self._cases.setdefault(s(case.get("id")), (element, shown))
        self._sections = set(sections)

    def case(self, case_id: Any) -> Ref:
        known = self._cases.get(s(case_id))
        return Ref(s(case_id), known[0] if known else "")

    def exchange(self, case_id: Any, index: Any) -> Ref:
        """``case #n``, linked to the exchange's block: ``index`` counts from 0 (results.json)."""
        known = self._cases.get(s(case_id))
        if known is None or not isinstance(index, int) or not 0 <= index < len(known[1]):
            return self.case(case_id)
        element, shown = known
        if not shown[index]:
            return self.case(case_id)
        n = sum(shown[: index + 1])
        return Ref(s(case_id), f"{element}__ex{n}", n)

    def section(self, section: Any) -> Ref:
        key = section_key(s(section))
        return Ref(section_heading(key), section_anchor(key) if key in self._sections else "")


# -- the page, as data -----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A role's row in the header: where it ran (``url`` empty: every case skipped)."""

    label: str
    url: str
    embedded: bool
    chips: list[Chip]


@dataclass(frozen=True)
class Fact:
    """A fact of the run in the header; ``code``: an identifier, shown as code."""

    label: str
    value: str
    code: bool = False


#: A reading's value(s): ``(name, None)`` each, or ``(name, why)`` pairs.
Listed = list[tuple[str, str | None]]


@dataclass(frozen=True)
class Reading:
    """Which reading of an open question a role's target was seen to take."""

    role: str
    dimension: str
    used: Listed
    accepted: Listed
    refused: Listed
    case: Ref | None


@dataclass(frozen=True)
class Control:
    """A role's baseline request (None: none was accepted) and the oracle used."""

    role: str
    baseline: list[tuple[str, str]] | None
    case: Ref | None
    oracle: str


@dataclass(frozen=True)
class Header:
    targets: list[Target]
    #: The only row when results.json names no roles: the CRM's address.
    target_url: str
    facts: list[Fact]
    totals: list[Chip]
    #: ``(count, why)`` of the cases the run deselected.
    not_run: list[tuple[Any, str]]
    readings: list[Reading]
    controls: list[Control]


@dataclass(frozen=True)
class Diagnosis:
    element: str
    id: str
    title: str
    section: Ref
    explanation: str
    fix: str
    isolated_by: Ref | None
    #: ``(exchange, note)``: what each piece of evidence shows.
    evidence: list[tuple[Ref, str]]
    cases: list[Ref]


@dataclass(frozen=True)
class MatrixRow:
    anchor: str
    heading: str
    cells: list[Chip]
    total: int


@dataclass(frozen=True)
class SectionBlock:
    anchor: str
    number: str
    title: str
    subtitle: str
    chips: list[Chip]
    total: int


@dataclass(frozen=True)
class Filters:
    methods: list[Option]
    directions: list[Option]
    verdicts: list[Option]
    sections: list[Option]


@dataclass(frozen=True)
class Rendered:
    """A case whose HTML was made before the page (``html.prepare``): what the page
    needs of it besides that HTML."""

    element: str
    id: str
    verdict: str
    html: Any  # markupsafe.Markup


@dataclass(frozen=True)
class Page:
    title: str
    header: Header
    diagnoses: list[Diagnosis]
    #: Cases with the verdict ``error`` (the suite's faults), shown apart.
    errors: list[Case | Rendered]
    #: Every other case, failures first.
    cases: list[Case | Rendered]
    matrix_columns: list[str]
    matrix: list[MatrixRow]
    filters: Filters
    sections: list[SectionBlock]


# -- from results.json -----------------------------------------------------------


def build(
    document: Mapping[str, Any], rendered: Mapping[str, tuple[str, Any]] | None = None
) -> Page:
    """The page of ``document`` (results.json, already redacted).

    ``rendered``: case id -> (element id, HTML) of cases made into HTML before
    (``html.prepare``, from the same case of ``document``); one whose element id
    is not the one this page gives it (two ids of one slug) is made again here.
    """
    rendered = rendered or {}
    cases = ordered_cases(c for c in document.get("cases") or [] if isinstance(c, Mapping))
    client_id = s(as_map(document.get("target")).get("client_id"))
    counted_verdicts = Counter(s(c.get("verdict")) for c in cases)
    summary = {v: counted_verdicts.get(v, 0) for v in VERDICTS}
    sections = sorted({section_key(s(c.get("section"))) for c in cases}, key=_section_order)
    ids = DomIds("case")
    placed = [(c, ids.make(s(c.get("id")))) for c in cases]
    links = _Links(placed, sections)
    shown: list[Case | Rendered] = []
    for c, element in placed:
        made = rendered.get(s(c.get("id")))
        if made is not None and made[0] == element:
            shown.append(Rendered(element, s(c.get("id")), s(c.get("verdict")), made[1]))
        else:
            shown.append(case_view(c, element, client_id))
    worst = ", ".join(f"{summary[v]} {v}" for v in ("fail", "non-strict") if summary.get(v))
    errors = [counted(summary[ERROR], "suite error")] if summary[ERROR] else []
    columns = [v for v in VERDICTS if v != ERROR or summary[ERROR]]
    return Page(
        title="VATS conformance: " + ", ".join([worst or "no failures", *errors]),
        header=_header(document, summary, links),
        diagnoses=_diagnoses(document.get("diagnoses"), links),
        errors=[c for c in shown if c.verdict == ERROR],
        cases=[c for c in shown if c.verdict != ERROR],
        matrix_columns=columns,
        matrix=_matrix(cases, sections, columns),
        filters=_filters(sections),
        sections=_section_blocks(cases, sections),
    )


def _header(document: Mapping[str, Any], summary: dict[str, int], links: _Links) -> Header:
    targets = []
    for role, entry in as_map(document.get("roles")).items():
        info = as_map(entry)
        counts = as_map(info.get("summary"))
        targets.append(
            Target(
                label=ROLE_LABELS.get(s(role), s(role)),
                url=s(info.get("url")),
                embedded=bool(info.get("embedded")),
                chips=[(v, as_int(counts.get(v))) for v in VERDICTS if as_int(counts.get(v))],
            )
        )
    suite = as_map(document.get("suite"))
    latency = as_map(document.get("latency_ms"))
    percentiles = [f"{p} {latency[p]} ms" for p in ("p50", "p90", "p99", "max") if p in latency]
    facts = [
        Fact("Profile", s(document.get("profile") or "?")),
        Fact("Suite", f"{s(suite.get('name')) or 'vats-conformance'} {s(suite.get('version'))}"),
        Fact("Started", when(document.get("started"))),
        Fact("Duration", duration(document.get("duration_s"))),
        Fact("Seed", s(document.get("seed"))),
        Fact("Client id", s(as_map(document.get("target")).get("client_id")), code=True),
        Fact("Requests", s(document.get("requests"))),
        Fact("Latency", " · ".join(percentiles) or "-"),
    ]
    readings = [
        Reading(
            role=s(role),
            dimension=s(dimension),
            used=_listed(seen.get("used")),
            accepted=_listed(seen.get("accepted")),
            refused=_listed(seen.get("refused")),
            case=links.case(seen["case"]) if seen.get("case") else None,
        )
        for role, dimensions in as_map(document.get("readings")).items()
        for dimension, seen in as_map(dimensions).items()
        if isinstance(seen, Mapping)
    ]
    return Header(
        targets=targets,
        target_url=s(as_map(document.get("target")).get("crm_url")) or "?",
        facts=facts,
        totals=[(v, summary[v]) for v in VERDICTS],
        not_run=[(n, s(why)) for why, n in as_map(document.get("deselected")).items()],
        readings=readings,
        controls=[
            _control(s(role), as_map(c), links)
            for role, c in as_map(document.get("controls")).items()
        ],
    )


def _listed(value: Any) -> Listed:
    if isinstance(value, Mapping):
        return [(s(k), s(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [(s(v), None) for v in value]
    return [(s(value), None)]


def _control(role: str, info: Mapping[str, Any], links: _Links) -> Control:
    """A role's baseline request every variation departs from, and the oracle used."""
    baseline = info.get("baseline")
    if not isinstance(baseline, Mapping):
        return Control(role, None, None, s(info.get("oracle")))
    parts = [(s(k), s(v)) for k, v in baseline.items() if k != "case" and v not in (None, "")]
    case = links.case(baseline["case"]) if baseline.get("case") else None
    return Control(role, parts, case, s(info.get("oracle")))


def _diagnoses(diagnoses: Any, links: _Links) -> list[Diagnosis]:
    """One per diagnosis (grading/diagnose.py), the one explaining the most first."""
    ids = DomIds("diagnosis")
    return [
        Diagnosis(
            element=ids.make(s(d.get("id"))),
            id=s(d.get("id")),
            title=s(d.get("title")),
            section=links.section(d.get("section")),
            explanation=s(d.get("explanation")),
            fix=s(d.get("fix")),
            isolated_by=links.case(d["isolated_by"]) if d.get("isolated_by") else None,
            evidence=[
                (links.exchange(e.get("case"), e.get("exchange")), s(e.get("note")))
                for e in d.get("evidence") or []
                if isinstance(e, Mapping)
            ],
            cases=[links.case(c) for c in d.get("cases") or [] if isinstance(c, str)],
        )
        for d in diagnoses or []
        if isinstance(d, Mapping)
    ]


def _matrix(
    cases: list[Mapping[str, Any]], sections: list[str], columns: list[str]
) -> list[MatrixRow]:
    counts = Counter((section_key(s(c.get("section"))), s(c.get("verdict"))) for c in cases)
    rows = []
    for section in sections:
        cells = [(v, counts.get((section, v), 0)) for v in columns]
        rows.append(
            MatrixRow(
                section_anchor(section), section_heading(section), cells, sum(n for _, n in cells)
            )
        )
    return rows


def _filters(sections: list[str]) -> Filters:
    return Filters(
        methods=[("all", "all methods"), *((m, METHOD_LABELS[m]) for m in (*METHODS, "other"))],
        directions=[("all", "all requests"), *DIRECTION_LABELS.items()],
        verdicts=[("all", "all verdicts"), *((v, v) for v in VERDICTS)],
        sections=[
            ("all", "all sections"),
            *((section_anchor(x), section_heading(x)) for x in sections),
        ],
    )


def _section_blocks(cases: list[Mapping[str, Any]], sections: list[str]) -> list[SectionBlock]:
    by_section: dict[str, Counter[str]] = {}
    for c in cases:
        key = section_key(s(c.get("section")))
        by_section.setdefault(key, Counter())[s(c.get("verdict"))] += 1
    blocks = []
    for section in sections:
        counts = by_section.get(section, Counter())
        known = SECTIONS.get(section)
        blocks.append(
            SectionBlock(
                anchor=section_anchor(section),
                number=section or "-",
                title=known[0] if known else "(not in the section list of this report)",
                subtitle=(known[1] if known else None) or "",
                chips=[(v, counts[v]) for v in VERDICTS if counts.get(v)],
                total=sum(counts.values()),
            )
        )
    return blocks
