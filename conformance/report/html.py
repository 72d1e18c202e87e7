"""results.json as one self-contained page: ``index.html``, readable offline from disk.

Everything is rendered here, on the server side, and HTML-escaped: bodies,
headers, ids and details come from systems under test and are treated as
hostile. The page loads nothing (inline CSS and JS only, no fonts, no images)
and its Content-Security-Policy allows only its own script and style, by hash:
even an injection that escaped the escaping could not run. The script only
toggles visibility, sets text and copies text; it never parses HTML.

The page opens with what explains the most: the diagnoses (``document["diagnoses"]``,
grading/diagnose.py), then the cases in which the suite itself failed (verdict
``error``, shown apart and never counted as the target's failures), then the
matrix, the filters and every other case, failures first.

Stable hooks for browser tests: cases are ``.case`` elements with
``data-case-id``, ``data-verdict``, ``data-section``, ``data-methods`` and
``data-directions`` and an id ``case-<slug of the id>`` (``dom_id("case", id)``, a
URL fragment that opens it); each has a ``.case-toggle`` button carrying
``aria-expanded``; wire logs are ``.exchange`` blocks with ``data-method`` and
``data-direction`` and ids ``<case element id>__ex<n>`` (n from 1); the filters
are ``#filter-method``, ``#filter-direction``, ``#filter-verdict``,
``#filter-section`` and ``#search``; section blocks are ``.guide-section`` with
ids ``sec-1-4-2``, ``sec-A-2`` (``section_anchor``). Diagnoses are
``.diagnosis`` elements with ``data-diagnosis-id`` inside ``#diagnoses``; the
cases with verdict ``error`` are in ``#suite-errors``, the others in ``#cases``;
the header holds ``#readings`` and ``#controls`` when results.json has them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conformance.report import curl
from conformance.spec.sections import (
    METHODS,
    SECTIONS,
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
METHOD_LABELS = {
    "call_events": "call_events: уведомление о вызовах",
    "call_back": "call_back: запрос на совершение исходящего вызова",
    "get_record": "get_record: запрос записи разговора",
    "other": "other (recording links, admin API)",
}
ROLE_LABELS = {
    "crm-webhook": "CRM webhook (the suite plays the PBX)",
    "pbx-api": "PBX API (the suite plays the CRM)",
    "pbx-events": "PBX notifications (the suite is the CRM's webhook)",
}
#: Characters of a body shown in the page (results.json has them all).
MAX_SHOWN = 256 * 1024
#: Bodies up to this many characters are also shown pretty-printed.
MAX_PRETTY = 64 * 1024


# -- classification --------------------------------------------------------------


def _section_order(section: str) -> tuple[int, list[tuple[int, int | str]]]:
    parts = section_key(section).split(".")
    appendix = 0 if parts[0].isdigit() else 1
    return appendix, [(0, int(p)) if p.isdigit() else (1, p) for p in parts]


def verdict_rank(verdict: str) -> int:
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)


def ordered_cases(cases: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Failures first: fail, non-strict, info, skip, pass (unknown last); then by id."""
    return sorted(cases, key=lambda c: (verdict_rank(_s(c.get("verdict"))), _s(c.get("id"))))


# -- text ------------------------------------------------------------------------


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def esc(value: Any) -> str:
    """HTML-escaped text (quotes included); lone surrogates shown as ``\\udXXX``."""
    text = _s(value)
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return html.escape(text, quote=True)


_CONTROL = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_CONTROL[0x7F] = "\u2421"


def visible(text: str) -> str:
    """``text`` with control characters (but tab and newline) as visible symbols (␍, ␀)."""
    return text.translate(_CONTROL)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its members in order, duplicates kept."""


class _Number(str):
    """A JSON number as it was spelled."""


def _pretty(value: Any, depth: int = 0) -> str:
    pad, end = "  " * (depth + 1), "  " * depth
    if isinstance(value, _Pairs):
        if not value:
            return "{}"
        members = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, depth + 1)}" for k, v in value
        ]
        return "{\n" + ",\n".join(members) + "\n" + end + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(pad + _pretty(v, depth + 1) for v in value) + "\n" + end + "]"
    if isinstance(value, _Number):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def pretty_json(text: str) -> str | None:
    """``text`` re-indented when it is JSON (members, duplicates and numbers as sent), else None."""
    if len(text) > MAX_PRETTY or not text.strip():
        return None
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_float=_Number,
            parse_int=_Number,
            parse_constant=_Number,
        )
        return _pretty(doc)
    except (ValueError, RecursionError):
        return None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _when(started: Any) -> str:
    try:
        moment = datetime.fromisoformat(_s(started))
    except ValueError:
        return _s(started) or "?"
    zone = " UTC" if moment.utcoffset() == timedelta(0) else moment.strftime(" %z")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + zone


def _ms(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "?"


# -- the page --------------------------------------------------------------------


def render(document: Mapping[str, Any]) -> str:
    """The report of ``document`` (results.json, already redacted) as one HTML page."""
    raw_cases = [c for c in document.get("cases") or [] if isinstance(c, Mapping)]
    cases = ordered_cases(raw_cases)
    client_id = _s(_map(document.get("target")).get("client_id"))
    summary = _totals(cases)
    sections = sorted({section_key(_s(c.get("section"))) for c in cases}, key=_section_order)
    ids = _DomIds("case")
    placed = [(c, ids.make(_s(c.get("id")))) for c in cases]
    links = _Links(placed, sections)
    worst = ", ".join(f"{summary[v]} {v}" for v in ("fail", "non-strict") if summary.get(v))
    errors = f"{summary[ERROR]} suite error{'s' if summary[ERROR] != 1 else ''}"
    title = "VATS conformance: " + ", ".join(
        [worst or "no failures", *([errors] if summary[ERROR] else [])]
    )
    body = "\n".join(
        [
            _header(document, summary, links),
            _diagnoses(document.get("diagnoses"), links),
            _suite_errors([(c, d) for c, d in placed if c.get("verdict") == ERROR], client_id),
            _matrix(cases, sections),
            _filters(sections),
            '<section id="cases" aria-label="Cases">',
            '<p class="count"><span id="shown-count">'
            + str(len(cases))
            + "</span> of "
            + str(len(cases))
            + " cases shown"
            ' <button type="button" id="expand-all">expand all</button>'
            ' <button type="button" id="collapse-all">collapse all</button></p>',
            '<p id="no-match" hidden>No case matches the filters.</p>',
            *(_case(c, d, client_id) for c, d in placed if c.get("verdict") != ERROR),
            "</section>",
            _section_blocks(cases, sections),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{body}\n"
        "<noscript><p>Expanding cases and the filters need JavaScript; every exchange is in "
        "results.json.</p></noscript>\n"
        f"<script>{JS}</script>\n</body>\n</html>\n"
    )


def write(document: Mapping[str, Any], report_dir: Path) -> None:
    """Write ``report_dir/index.html`` (next to results.json), replacing it at once."""
    report_dir.mkdir(parents=True, exist_ok=True)
    target = report_dir / "index.html"
    partial = report_dir / ".index.html.partial"
    partial.write_text(render(document), encoding="utf-8")
    os.replace(partial, target)


def slug(text: str) -> str:
    """``text`` in letters, digits and ``-``: ``crm.sign.altered[x]`` -> ``crm-sign-altered-x``."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")


def dom_id(prefix: str, source_id: str) -> str:
    """The element id of a case (prefix ``case``) or diagnosis, before de-duplication."""
    return f"{prefix}-{slug(source_id) or prefix}"


class _DomIds:
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


class _Links:
    """Links into the page: to a case, one of its exchanges, a section block; text if absent."""

    def __init__(self, placed: list[tuple[Mapping[str, Any], str]], sections: list[str]) -> None:
        self._cases: dict[str, tuple[str, list[bool]]] = {}
        for case, element in placed:
            shown = [isinstance(e, Mapping) for e in case.get("exchanges") or []]
            self._cases.setdefault(_s(case.get("id")), (element, shown))
        self._sections = set(sections)

    def case(self, case_id: Any) -> str:
        known = self._cases.get(_s(case_id))
        code = f'<code class="case-ref">{esc(case_id)}</code>'
        return f'<a href="#{known[0]}">{code}</a>' if known else code

    def exchange(self, case_id: Any, index: Any) -> str:
        """``case #n``, linked to the exchange's block: ``index`` counts from 0 (results.json)."""
        known = self._cases.get(_s(case_id))
        if known is None or not isinstance(index, int) or not 0 <= index < len(known[1]):
            return self.case(case_id)
        element, shown = known
        if not shown[index]:
            return self.case(case_id)
        n = sum(shown[: index + 1])
        return f'<a href="#{element}__ex{n}"><code class="case-ref">{esc(case_id)}</code> #{n}</a>'

    def section(self, section: Any) -> str:
        key = section_key(_s(section))
        text = esc(section_heading(key))
        return f'<a href="#{section_anchor(key)}">{text}</a>' if key in self._sections else text


def _totals(cases: list[Mapping[str, Any]]) -> dict[str, int]:
    counted = Counter(_s(c.get("verdict")) for c in cases)
    return {v: counted.get(v, 0) for v in VERDICTS}


def _chip(verdict: str, count: int, **data: str) -> str:
    attrs = "".join(f' data-{k.replace("_", "-")}="{esc(v)}"' for k, v in data.items())
    cls = f"chip v-{verdict}" if verdict in VERDICTS else "chip"
    empty = " zero" if not count else ""
    if data:
        return (
            f'<button type="button" class="{cls}{empty}"{attrs}>'
            f"<b>{count}</b> {esc(verdict)}</button>"
        )
    return f'<span class="{cls}{empty}"><b>{count}</b> {esc(verdict)}</span>'


def _header(document: Mapping[str, Any], summary: dict[str, int], links: _Links) -> str:
    suite = _map(document.get("suite"))
    roles = _map(document.get("roles"))
    rows = []
    for role, entry in roles.items():
        info: Mapping[str, Any] = entry if isinstance(entry, Mapping) else {}
        url = _s(info.get("url"))
        if not url:
            where = '<span class="muted">not run: every case skipped</span>'
        else:
            kind = "embedded reference" if info.get("embedded") else "system under test"
            where = f'<code class="url">{esc(url)}</code> <span class="badge">{kind}</span>'
        counts = _map(info.get("summary"))
        chips = " ".join(_chip(v, _int(counts.get(v))) for v in VERDICTS if _int(counts.get(v)))
        rows.append(
            f"<tr><th>{esc(ROLE_LABELS.get(_s(role), _s(role)))}</th><td>{where}</td>"
            f'<td class="chips">{chips}</td></tr>'
        )
    if not rows:
        target = _map(document.get("target"))
        url = _s(target.get("crm_url"))
        rows.append(f'<tr><th>Target</th><td><code class="url">{esc(url or "?")}</code></td></tr>')
    latency = _map(document.get("latency_ms"))
    facts = [
        ("Profile", esc(document.get("profile") or "?")),
        ("Suite", esc(f"{_s(suite.get('name')) or 'vats-conformance'} {_s(suite.get('version'))}")),
        ("Started", esc(_when(document.get("started")))),
        ("Duration", esc(_duration(document.get("duration_s")))),
        ("Seed", esc(document.get("seed"))),
        ("Client id", f"<code>{esc(_map(document.get('target')).get('client_id'))}</code>"),
        ("Requests", esc(document.get("requests"))),
        (
            "Latency",
            esc(
                " · ".join(
                    f"{p} {latency[p]} ms" for p in ("p50", "p90", "p99", "max") if p in latency
                )
                or "-"
            ),
        ),
    ]
    facts_html = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    totals = " ".join(_chip(v, summary[v], filter_verdict=v) for v in VERDICTS)
    deselected = _map(document.get("deselected"))
    not_run = "".join(
        f'<p class="deselected">{esc(n)} case{"s" if n != 1 else ""} not run: {esc(why)}</p>'
        for why, n in deselected.items()
    )
    return (
        '<header class="top">\n<h1>VATS Integration API conformance</h1>\n'
        f'<table class="targets">{"".join(rows)}</table>\n'
        f'<dl class="facts">{facts_html}</dl>\n'
        f'<p class="totals" aria-label="Verdict totals">{totals}</p>\n'
        + not_run
        + _readings(_map(document.get("readings")), links)
        + _controls(_map(document.get("controls")), links)
        + "</header>"
    )


def _listed(value: Any) -> str:
    """A reading's value(s) as escaped text: one, a list, or ``reading: why`` pairs."""
    if isinstance(value, Mapping):
        return "; ".join(f"<b>{esc(k)}</b> ({esc(visible(_s(v)))})" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(esc(v) for v in value)
    return esc(value)


def _readings(readings: Mapping[str, Any], links: _Links) -> str:
    """Which reading of each open question the target was seen to take, per role."""
    rows = [
        f'<tr><td>{esc(role)}</td><th scope="row">{esc(dimension)}</th>'
        f"<td>{_listed(seen.get('used'))}</td><td>{_listed(seen.get('accepted'))}</td>"
        f"<td>{_listed(seen.get('refused'))}</td>"
        f"<td>{links.case(seen['case']) if seen.get('case') else ''}</td></tr>"
        for role, dimensions in readings.items()
        for dimension, seen in _map(dimensions).items()
        if isinstance(seen, Mapping)
    ]
    if not rows:
        return ""
    return (
        '<table class="readings" id="readings"><caption>Readings the target takes where the '
        "guide allows several</caption><thead><tr><th>role</th><th>of</th><th>used</th>"
        "<th>accepted</th><th>refused</th><th>case</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>\n"
    )


def _controls(controls: Mapping[str, Any], links: _Links) -> str:
    """Per role: the baseline request every variation departs from, and the oracle used."""
    items = []
    for role, control in controls.items():
        info = _map(control)
        baseline = info.get("baseline")
        if isinstance(baseline, Mapping):
            parts = [
                f"{esc(k)} <b>{esc(v)}</b>"
                for k, v in baseline.items()
                if k != "case" and v not in (None, "")
            ]
            case = f" ({links.case(baseline['case'])})" if baseline.get("case") else ""
            shown = f"baseline {', '.join(parts)}{case}"
        else:
            shown = "<b>no baseline</b>"
        oracle = f"; oracle <b>{esc(info['oracle'])}</b>" if info.get("oracle") else ""
        items.append(f"<li>{esc(role)}: {shown}{oracle}</li>")
    return f'<ul class="controls" id="controls">{"".join(items)}</ul>\n' if items else ""


def _diagnoses(diagnoses: Any, links: _Links) -> str:
    """One card per diagnosis (grading/diagnose.py), the one explaining the most first."""
    found = [d for d in diagnoses or [] if isinstance(d, Mapping)]
    if not found:
        return ""
    ids = _DomIds("diagnosis")
    cards = [_diagnosis(d, ids.make(_s(d.get("id"))), links) for d in found]
    return (
        '<section id="diagnoses" class="diagnoses" aria-label="Diagnoses">\n<h2>Diagnoses</h2>\n'
        '<p class="muted">Root causes the recorded exchanges show, each behind several cases '
        "below; the one explaining the most first.</p>\n" + "\n".join(cards) + "\n</section>"
    )


def _diagnosis(d: Mapping[str, Any], element: str, links: _Links) -> str:
    def text(key: str) -> str:
        return esc(visible(_s(d.get(key))))

    explained = [c for c in d.get("cases") or [] if isinstance(c, str)]
    n = len(explained)
    cases = f"{n} case{'s' if n != 1 else ''}"
    evidence = [e for e in d.get("evidence") or [] if isinstance(e, Mapping)]
    notes = [
        f"<li>{links.exchange(e.get('case'), e.get('exchange'))}: {esc(visible(_s(e.get('note'))))}"
        "</li>"
        for e in evidence
    ]
    parts = [
        f'<article class="diagnosis" id="{element}" data-diagnosis-id="{esc(d.get("id"))}">',
        f'<h3 class="diag-title">{text("title")}</h3>',
        f'<p class="diag-meta"><span class="diag-section">§ {links.section(d.get("section"))}'
        f"</span> · explains {cases}</p>",
        f'<p class="diag-explanation">{text("explanation")}</p>',
        f'<p class="diag-fix"><b>Fix:</b> {text("fix")}</p>',
    ]
    if d.get("isolated_by"):
        parts.append(
            f'<p class="diag-isolated">Shown most directly by {links.case(d["isolated_by"])}</p>'
        )
    if notes:
        parts.append(f'<ul class="diag-evidence">{"".join(notes)}</ul>')
    parts.append(
        f'<details class="diag-cases"{" open" if n <= 5 else ""}><summary>The {cases} it '
        f"explains</summary><ul>{''.join(f'<li>{links.case(c)}</li>' for c in explained)}</ul>"
        "</details></article>"
    )
    return "".join(parts)


def _suite_errors(errors: list[tuple[Mapping[str, Any], str]], client_id: str) -> str:
    """The cases in which the suite itself failed: apart, not the target's failures."""
    if not errors:
        return ""
    return (
        '<section id="suite-errors" class="suite-errors" aria-label="Suite errors">\n'
        f'<h2>Suite errors <span class="chip v-error"><b>{len(errors)}</b> error</span></h2>\n'
        "<p>The suite itself failed in these cases (an unexpected exception in the suite, not "
        "an answer of the target). They say nothing about the target and are never counted "
        "as its failures; please report them with their detail.</p>\n"
        + "\n".join(_case(c, d, client_id) for c, d in errors)
        + "\n</section>"
    )


def _matrix(cases: list[Mapping[str, Any]], sections: list[str]) -> str:
    counts = Counter((section_key(_s(c.get("section"))), _s(c.get("verdict"))) for c in cases)
    errors = any(c.get("verdict") == ERROR for c in cases)
    columns = [v for v in VERDICTS if v != ERROR or errors]
    head = "".join(f'<th scope="col" class="v-{v}">{v}</th>' for v in columns)
    rows = []
    for section in sections:
        cells = []
        for v in columns:
            n = counts.get((section, v), 0)
            if n:
                cells.append(
                    f'<td><button type="button" class="cell v-{v}" data-filter-verdict="{v}" '
                    f'data-filter-section="{section_anchor(section)}">{n}</button></td>'
                )
            else:
                cells.append('<td class="zero">·</td>')
        total = sum(counts.get((section, v), 0) for v in columns)
        rows.append(
            f'<tr><th scope="row"><a href="#{section_anchor(section)}">'
            f"{esc(section_heading(section))}</a></th>{''.join(cells)}<td>{total}</td></tr>"
        )
    return (
        '<section class="matrix-wrap" id="matrix" aria-label="Sections and verdicts">\n'
        "<h2>Guide sections × verdicts</h2>\n"
        '<table class="matrix"><thead><tr><th scope="col">section</th>'
        f'{head}<th scope="col">cases</th></tr></thead>\n<tbody>{"".join(rows)}</tbody></table>\n'
        "</section>"
    )


def _options(values: Iterable[tuple[str, str]]) -> str:
    return "".join(f'<option value="{esc(v)}">{esc(label)}</option>' for v, label in values)


def _filters(sections: list[str]) -> str:
    methods = [("all", "all methods"), *((m, METHOD_LABELS[m]) for m in (*METHODS, "other"))]
    directions = [("all", "all requests"), *DIRECTION_LABELS.items()]
    verdicts = [("all", "all verdicts"), *((v, v) for v in VERDICTS)]
    section_opts = [
        ("all", "all sections"),
        *((section_anchor(s), section_heading(s)) for s in sections),
    ]
    return (
        '<form class="filters" role="search" aria-label="Filter cases" id="filters">\n'
        '<label>Method <select id="filter-method">' + _options(methods) + "</select></label>\n"
        '<label>Direction <select id="filter-direction">'
        + _options(directions)
        + "</select></label>\n"
        '<label>Verdict <select id="filter-verdict">' + _options(verdicts) + "</select></label>\n"
        '<label>Section <select id="filter-section">'
        + _options(section_opts)
        + "</select></label>\n"
        '<label class="grow">Case id <input type="search" id="search" placeholder="crm.sign" '
        'autocomplete="off" spellcheck="false"></label>\n'
        '<button type="reset" id="clear-filters">clear</button>\n</form>'
    )


def _case(case: Mapping[str, Any], dom_id: str, client_id: str) -> str:
    verdict = _s(case.get("verdict"))
    section = section_key(_s(case.get("section")))
    anchor = section_anchor(section)
    exchanges = [e for e in case.get("exchanges") or [] if isinstance(e, Mapping)]
    kinds = [method_of(_s(_map(e.get("request")).get("url"))) for e in exchanges]
    methods = sorted(set(kinds))
    directions = sorted({direction_of(m) for m in kinds})
    detail = _s(case.get("detail"))
    lines = "".join(
        f"<span>{esc(visible(line))}</span>" for line in detail.strip().splitlines()[:2]
    )
    vclass = f"v-{verdict}" if verdict in VERDICTS else "v-unknown"
    reproduce = verdict in REPRODUCED
    blocks = [
        _exchange(e, f"{dom_id}__ex{n}", n, client_id, reproduce=reproduce)
        for n, e in enumerate(exchanges, 1)
    ]
    n_ex = len(exchanges)
    count = f"{n_ex} exchange{'s' if n_ex != 1 else ''}"
    return (
        f'<article class="case {vclass}" id="{dom_id}" data-case-id="{esc(case.get("id"))}" '
        f'data-verdict="{esc(verdict)}" data-section="{esc(section)}" '
        f'data-section-anchor="{anchor}" data-role="{esc(case.get("role"))}" '
        f'data-methods="{esc(" ".join(methods))}" data-directions="{esc(" ".join(directions))}">\n'
        '<div class="case-row">'
        f'<button type="button" class="case-toggle" aria-expanded="false" '
        f'aria-controls="{dom_id}__body">'
        f'<span class="verdict {vclass}">{esc(verdict)}</span>'
        f'<span class="case-main"><span class="case-id">{esc(case.get("id"))}</span>'
        f'<span class="case-title">{esc(case.get("title"))}</span>'
        f'<span class="case-req">{esc(case.get("requirement"))}</span></span>'
        f'<span class="case-line">{lines}</span>'
        f'<span class="case-count">{count}</span></button>'
        f'<a class="section-link" href="#{anchor}" title="{esc(section_heading(section))}">'
        f"§ {esc(section or '-')}</a></div>\n"
        f'<div class="case-body" id="{dom_id}__body" hidden>\n'
        '<dl class="case-facts">'
        f"<div><dt>Requirement</dt><dd>{esc(case.get('requirement'))}</dd></div>"
        f'<div><dt>Section</dt><dd><a href="#{anchor}">{esc(section_heading(section))}</a>'
        "</dd></div>"
        f"<div><dt>Role</dt><dd>{esc(ROLE_LABELS.get(_s(case.get('role')), case.get('role')))}"
        "</dd></div></dl>\n"
        + (f'<pre class="detail">{esc(visible(detail))}</pre>\n' if detail else "")
        + '<p class="filtered-note" hidden></p>\n'
        + ("\n".join(blocks) if blocks else '<p class="muted">No exchange recorded.</p>')
        + "\n</div>\n</article>"
    )


def _status_class(status: Any) -> str:
    if isinstance(status, int) and 100 <= status <= 599:
        return f"s-{status // 100}xx"
    return "s-none"


def _exchange(
    exchange: Mapping[str, Any], dom_id: str, n: int, client_id: str, *, reproduce: bool
) -> str:
    request = _map(exchange.get("request"))
    response = exchange.get("response")
    url = _s(request.get("url"))
    method = method_of(url)
    direction = direction_of(method)
    tags = [f'<span class="tag">{method}</span>']
    if direction in DIRECTION_LABELS:
        tags.append(f'<span class="tag">{DIRECTION_LABELS[direction]}</span>')
    if isinstance(response, Mapping):
        status = response.get("status")
        status_html = f'<span class="status {_status_class(status)}">HTTP {esc(status)}</span>'
    else:
        status_html = '<span class="status s-none">no answer</span>'
    parts = [
        f'<section class="exchange" id="{dom_id}" data-method="{method}" '
        f'data-direction="{direction}">',
        f'<h4 class="exchange-head"><span class="ex-n">#{n}</span> '
        f'<span class="ex-method">{esc(request.get("method"))}</span> '
        f'<span class="ex-url">{esc(url)}</span> {status_html} '
        f'<span class="elapsed">{esc(_ms(exchange.get("elapsed_ms")))}</span> '
        f"{' '.join(tags)}</h4>",
        '<div class="wire">',
        '<div class="half request"><h5>Request</h5>'
        + _headers(request.get("headers"))
        + _body(request)
        + "</div>",
    ]
    if isinstance(response, Mapping):
        parts.append(
            f'<div class="half response"><h5>Response · HTTP {esc(response.get("status"))}</h5>'
            + _headers(response.get("headers"))
            + _body(response)
            + "</div>"
        )
    else:
        parts.append('<div class="half response"><h5>Response</h5><p class="muted">none</p></div>')
    parts.append("</div>")
    if exchange.get("error"):
        parts.append(f'<p class="error"><b>Error:</b> {esc(exchange.get("error"))}</p>')
    if reproduce:
        script = curl.reproduce(exchange, client_id)
        parts.append(
            '<div class="repro"><div class="repro-head"><h5>Reproduce (bash, curl)</h5>'
            f'<button type="button" class="copy" data-copy="{dom_id}__curl">Copy</button></div>'
            f'<pre class="curl" id="{dom_id}__curl">{esc(script)}</pre></div>'
        )
    parts.append("</section>")
    return "\n".join(parts)


def _headers(headers: Any) -> str:
    rows = [
        f"<tr><th>{esc(visible(_s(pair[0])))}</th><td>{esc(visible(_s(pair[1])))}</td></tr>"
        for pair in headers or []
        if isinstance(pair, list | tuple) and len(pair) == 2
    ]
    if not rows:
        return '<p class="muted">no headers</p>'
    return f'<table class="headers">{"".join(rows)}</table>'


def _body(part: Mapping[str, Any]) -> str:
    raw = body_bytes(part)
    if not raw:
        return '<p class="muted">empty body</p>'
    size = f"{len(raw)} byte{'s' if len(raw) != 1 else ''}"
    try:
        text = raw.decode("utf-8")
        note = size
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "backslashreplace")
        note = f"{size}, not UTF-8: other bytes shown as \\xNN"
    shown = text[:MAX_SHOWN]
    cut = (
        f'<p class="muted">… {len(text) - MAX_SHOWN} more characters in results.json</p>'
        if len(text) > MAX_SHOWN
        else ""
    )
    pretty = pretty_json(text) if note == size else None
    if pretty is not None and pretty != text:
        return (
            f'<div class="body"><p class="body-meta">JSON · {esc(note)}</p>'
            f'<pre class="body-pretty">{esc(visible(pretty))}</pre>'
            f'<details class="raw"><summary>raw, as sent</summary>'
            f'<pre class="body-raw">{esc(visible(shown))}</pre></details>{cut}</div>'
        )
    kind = "JSON · " if pretty is not None else ""
    return (
        f'<div class="body"><p class="body-meta">{kind}{esc(note)}</p>'
        f'<pre class="body-raw">{esc(visible(shown))}</pre>{cut}</div>'
    )


def _section_blocks(cases: list[Mapping[str, Any]], sections: list[str]) -> str:
    by_section: dict[str, Counter[str]] = {}
    for c in cases:
        key = section_key(_s(c.get("section")))
        by_section.setdefault(key, Counter())[_s(c.get("verdict"))] += 1
    blocks = []
    for section in sections:
        counts = by_section.get(section, Counter())
        total = sum(counts.values())
        known = SECTIONS.get(section)
        title = known[0] if known else "(not in the section list of this report)"
        sub = f'<p class="sec-sub" lang="ru">{esc(known[1])}</p>' if known and known[1] else ""
        chips = " ".join(_chip(v, counts[v]) for v in VERDICTS if counts.get(v))
        anchor = section_anchor(section)
        blocks.append(
            f'<section class="guide-section" id="{anchor}">'
            f'<h3><span class="sec-num">{esc(section or "-")}</span> '
            f'<span lang="ru">{esc(title)}</span></h3>{sub}'
            f'<p>{chips} <button type="button" class="show-section" data-filter-section="{anchor}" '
            f'data-filter-verdict="all">show its {total} case{"s" if total != 1 else ""}</button>'
            "</p></section>"
        )
    return (
        '<section class="sections" id="guide-sections" aria-label="Guide sections">\n'
        "<h2>Sections of the guide (Интеграционный API, руководство пользователя, 2017)</h2>\n"
        + "\n".join(blocks)
        + "\n</section>"
    )


# -- style and behaviour ---------------------------------------------------------

CSS = """
:root{--fg:#1d232a;--muted:#66707a;--bg:#fff;--panel:#f5f7f9;--line:#dde2e7;--code:#f0f3f6;
--fail:#c62828;--non-strict:#d35400;--info:#1565c0;--skip:#757575;--pass:#2e7d32;--link:#0b5cad;
--error:#7b1fa2}
@media (prefers-color-scheme:dark){:root{--fg:#e3e7eb;--muted:#9aa4ae;--bg:#15191d;--panel:#1d2328;
--line:#323a42;--code:#20272d;--fail:#ef5350;--non-strict:#ff9800;--info:#64b5f6;--skip:#a0a0a0;
--pass:#66bb6a;--link:#7cb7ff;--error:#ce93d8}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;padding:0 1.5rem 4rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
code,pre,.case-id,.ex-url,.url,table.headers{font-family:ui-monospace,SFMono-Regular,Menlo,
Consolas,"Liberation Mono",monospace;font-size:13px}
h1{font-size:1.5rem;margin:1.2rem 0 .6rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
h3{font-size:1rem;margin:0 0 .3rem}h4,h5{margin:0}
.muted{color:var(--muted)}
button{font:inherit;color:inherit;cursor:pointer}
.top .targets{border-collapse:collapse;margin:.3rem 0}
.targets th{text-align:left;font-weight:600;padding:.2rem 1rem .2rem 0}
.targets td{padding:.2rem .6rem .2rem 0}
.badge,.tag{display:inline-block;font-size:12px;padding:0 .45rem;border:1px solid var(--line);
border-radius:999px;color:var(--muted)}
.facts{display:flex;flex-wrap:wrap;gap:.4rem 1.6rem;margin:.6rem 0}
.facts div{display:flex;gap:.4rem}.facts dt{color:var(--muted)}.facts dd{margin:0}
.chip{display:inline-flex;gap:.3rem;align-items:baseline;border:1px solid currentColor;
border-radius:999px;padding:.05rem .6rem;background:transparent;font-size:13px}
.chip.zero{opacity:.45}
.v-fail{color:var(--fail)}.v-non-strict{color:var(--non-strict)}.v-info{color:var(--info)}
.v-skip{color:var(--skip)}.v-pass{color:var(--pass)}.v-unknown{color:var(--muted)}
.v-error{color:var(--error)}
.matrix{border-collapse:collapse;min-width:50%}
.matrix th,.matrix td{border-bottom:1px solid var(--line);padding:.25rem .6rem;text-align:center}
.matrix th[scope=row]{text-align:left;font-weight:normal}
.matrix td.zero{color:var(--line)}
.cell{border:0;background:transparent;font-weight:700;padding:0 .4rem;text-decoration:underline}
.filters{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;gap:.5rem 1rem;
align-items:end;padding:.6rem 0;margin-top:1rem;background:var(--bg);
border-bottom:1px solid var(--line)}
.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
.filters .grow{flex:1;min-width:12rem}
.filters select{max-width:22rem}
select,input,.filters button{font:inherit;font-size:14px;color:var(--fg);background:var(--panel);
border:1px solid var(--line);border-radius:6px;padding:.25rem .4rem}
.count{color:var(--muted);margin:.6rem 0}
.count button{border:1px solid var(--line);background:var(--panel);border-radius:6px;font-size:12px}
.case{border:1px solid var(--line);border-left:4px solid currentColor;border-radius:6px;
margin:.35rem 0;background:var(--bg)}
.case-row{display:flex;align-items:stretch}
.case-toggle{flex:1;display:grid;gap:.8rem;
grid-template-columns:6.5rem minmax(14rem,2fr) minmax(8rem,1.4fr) 6rem;align-items:start;
text-align:left;border:0;background:transparent;padding:.5rem .7rem}
.case-toggle:hover,.case-toggle:focus-visible{background:var(--panel)}
.case-toggle[aria-expanded=true]{background:var(--panel)}
.verdict{font-weight:700;text-transform:uppercase;font-size:12px;letter-spacing:.03em;
padding-top:.15rem}
.case-main{display:flex;flex-direction:column;color:var(--fg);min-width:0}
.case-id{font-weight:600;overflow-wrap:anywhere}.case-req{color:var(--muted);font-size:13px}
.case-line{display:flex;flex-direction:column;min-width:0;color:var(--fg);font-size:13px}
.case-line span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.case-count{color:var(--muted);font-size:12px;text-align:right}
.section-link{align-self:center;padding:0 .8rem;white-space:nowrap;font-size:13px}
.case-body{padding:.4rem .9rem .9rem;border-top:1px solid var(--line);color:var(--fg)}
.case-facts{display:grid;gap:.2rem;margin:.3rem 0 .6rem}
.case-facts div{display:flex;gap:.6rem}.case-facts dt{color:var(--muted);min-width:6.5rem}
.case-facts dd{margin:0}
pre{background:var(--code);border-radius:6px;padding:.5rem .7rem;margin:.3rem 0;overflow:auto;
max-height:28rem;white-space:pre-wrap;overflow-wrap:anywhere}
pre.detail{border-left:3px solid currentColor}
.exchange{border:1px solid var(--line);border-radius:6px;margin:.6rem 0;padding:.5rem .7rem}
.exchange-head{display:flex;flex-wrap:wrap;gap:.5rem;align-items:baseline;font-weight:normal}
.ex-n{color:var(--muted)}.ex-method{font-weight:700}.ex-url{overflow-wrap:anywhere}
.status{font-weight:700}.s-2xx{color:var(--pass)}.s-3xx{color:var(--info)}
.s-4xx{color:var(--non-strict)}.s-5xx,.s-none{color:var(--fail)}
.elapsed{color:var(--muted);font-size:13px}
.wire{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:.8rem;margin-top:.4rem}
.half h5{font-size:13px;color:var(--muted);margin:.2rem 0}
table.headers{border-collapse:collapse;width:100%}
table.headers th{text-align:left;font-weight:600;padding:0 .6rem 0 0;vertical-align:top;
white-space:nowrap}
table.headers td{overflow-wrap:anywhere}
.body-meta{margin:.4rem 0 0;font-size:12px;color:var(--muted)}
details.raw summary{font-size:12px;color:var(--muted);cursor:pointer}
.error{color:var(--fail);margin:.4rem 0}
.repro{margin-top:.5rem}
.repro-head{display:flex;gap:.8rem;align-items:center}
.copy{border:1px solid var(--line);background:var(--panel);border-radius:6px;font-size:12px;
padding:.1rem .6rem}
.guide-section{border-top:1px solid var(--line);padding:.6rem 0;scroll-margin-top:5rem}
.guide-section:target{background:var(--panel)}
.sec-num{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin-right:.3rem}
.sec-sub{margin:0 0 .3rem;color:var(--muted)}
.show-section{border:1px solid var(--line);background:var(--panel);border-radius:6px;font-size:12px}
.case{scroll-margin-top:5rem}
table.readings{border-collapse:collapse;margin:.4rem 0;font-size:13px}
table.readings caption{text-align:left;color:var(--muted);padding-bottom:.2rem}
table.readings th,table.readings td{text-align:left;padding:.1rem .8rem .1rem 0;
vertical-align:top;border-bottom:1px solid var(--line)}
.controls{margin:.3rem 0;padding-left:1.2rem;font-size:13px}
.deselected{margin:.2rem 0;color:var(--muted);font-size:13px}
.diagnosis{border:1px solid var(--line);border-left:4px solid var(--fail);border-radius:6px;
padding:.6rem .9rem;margin:.6rem 0;scroll-margin-top:5rem}
.diag-title{font-size:1.05rem}
.diag-meta,.diag-isolated{margin:.2rem 0;color:var(--muted);font-size:13px}
.diag-explanation{margin:.4rem 0}.diag-fix{margin:.4rem 0}
.diag-evidence{margin:.3rem 0;padding-left:1.2rem;font-size:13px;overflow-wrap:anywhere}
.diag-cases summary{cursor:pointer;font-size:13px;color:var(--muted)}
.diag-cases ul{columns:2 22rem;font-size:13px;margin:.3rem 0}
.suite-errors{border:1px solid var(--error);border-radius:6px;padding:.2rem .9rem .6rem;
margin:1rem 0}
@media (max-width:760px){.case-toggle{grid-template-columns:5.5rem 1fr}
.case-line,.case-count{display:none}}
"""

JS = """
(() => {
  'use strict';
  const byId = (id) => document.getElementById(id);
  const cases = Array.from(document.querySelectorAll('.case'));
  const f = {
    method: byId('filter-method'), direction: byId('filter-direction'),
    verdict: byId('filter-verdict'), section: byId('filter-section'), search: byId('search'),
  };
  const toggleOf = (c) => c.querySelector('.case-toggle');
  function setExpanded(c, open) {
    const button = toggleOf(c);
    const body = byId(button.getAttribute('aria-controls'));
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    body.hidden = !open;
  }
  function matches(m, d, el) {
    return (m === 'all' || el.dataset.method === m) && (d === 'all' || el.dataset.direction === d);
  }
  function apply() {
    const m = f.method.value, d = f.direction.value, v = f.verdict.value, s = f.section.value;
    const q = f.search.value.trim().toLowerCase();
    let shown = 0;
    for (const c of cases) {
      const methods = c.dataset.methods.split(' '), directions = c.dataset.directions.split(' ');
      const ok = (m === 'all' || methods.includes(m)) && (d === 'all' || directions.includes(d))
        && (v === 'all' || c.dataset.verdict === v)
        && (s === 'all' || c.dataset.sectionAnchor === s)
        && (!q || c.dataset.caseId.toLowerCase().includes(q));
      c.hidden = !ok;
      if (ok) shown += 1;
      let hiddenExchanges = 0;
      for (const ex of c.querySelectorAll('.exchange')) {
        ex.hidden = !matches(m, d, ex);
        if (ex.hidden) hiddenExchanges += 1;
      }
      const note = c.querySelector('.filtered-note');
      note.hidden = hiddenExchanges === 0;
      note.textContent = hiddenExchanges
        + ' exchange(s) of this case hidden by the method or direction filter.';
    }
    byId('shown-count').textContent = String(shown);
    byId('no-match').hidden = shown !== 0;
  }
  function flash(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    window.setTimeout(() => { button.textContent = button.dataset.label; }, 1800);
  }
  function selectText(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function copy(button) {
    const pre = byId(button.dataset.copy);
    if (!pre) return;
    const fallback = () => {
      selectText(pre);
      let ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      flash(button, ok ? 'Copied' : 'Selected: press Ctrl+C');
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(pre.textContent).then(() => flash(button, 'Copied'), fallback);
    } else {
      fallback();
    }
  }
  function openHash() {
    let id = '';
    try { id = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return; }
    const el = id ? byId(id) : null;
    const c = el ? el.closest('.case') : null;
    if (!c) return;
    c.hidden = false;
    setExpanded(c, true);
    el.scrollIntoView();
  }
  for (const el of Object.values(f)) {
    el.addEventListener('input', apply);
    el.addEventListener('change', apply);
  }
  byId('filters').addEventListener('submit', (ev) => ev.preventDefault());
  byId('filters').addEventListener('reset', () => window.setTimeout(apply, 0));
  byId('expand-all').addEventListener('click', () => {
    for (const c of cases) if (!c.hidden) setExpanded(c, true);
  });
  byId('collapse-all').addEventListener('click', () => {
    for (const c of cases) setExpanded(c, false);
  });
  document.addEventListener('click', (ev) => {
    const target = ev.target instanceof Element ? ev.target : null;
    if (!target) return;
    const toggle = target.closest('.case-toggle');
    if (toggle) {
      setExpanded(toggle.closest('.case'), toggle.getAttribute('aria-expanded') !== 'true');
      return;
    }
    const copyButton = target.closest('button.copy');
    if (copyButton) { copy(copyButton); return; }
    const setter = target.closest('[data-filter-verdict],[data-filter-section]');
    if (setter) {
      f.method.value = 'all'; f.direction.value = 'all'; f.search.value = '';
      f.verdict.value = setter.dataset.filterVerdict || 'all';
      f.section.value = setter.dataset.filterSection || 'all';
      apply();
      byId('cases').scrollIntoView();
    }
  });
  window.addEventListener('hashchange', openHash);
  apply();
  openHash();
})();
"""


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


#: Nothing may load, and only this page's own style and script may apply.
CSP = (
    "default-src 'none'; "
    f"style-src {_csp_hash(CSS)}; "
    f"script-src {_csp_hash(JS)}; "
    "img-src 'none'; base-uri 'none'; form-action 'none'"
)
