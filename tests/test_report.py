"""The HTML report (conformance/report): escaped, self-contained, and its curl reproductions work.

(Over 400 lines: the page, its escaping, JUnit and the curl reproductions are one
writer's tests, sharing the document builders at the top.)

Pages are rendered from hand-made results.json documents, hostile where a
system under test could put text. Reproductions are run with bash against a
loopback server that records what arrived, and must send the recorded request
again: the same method, path, query, headers and body bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from conformance.reference.web import Request, Response
from conformance.report import curl, junit, render, reproduce, write
from conformance.report import html as report_html
from conformance.spec import sections, signing
from conformance.transport.client import Exchange, body_bytes
from tests.support import CLIENT_ID, CLIENT_KEY, serving

HOSTILE = "</script><img src=x onerror=alert(1)>"
FOREIGN_ID = "0000000000000000000000000000BEEF"


# -- documents -------------------------------------------------------------------


def exchange(
    method: str,
    url: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    status: int | None = 200,
    answer: bytes = b'{"result": 0}',
    signed_correctly: bool | None = None,
) -> dict[str, Any]:
    """One exchange as results.json holds it, recorded the way the suite's client records:
    ``signed_correctly`` is what its sender knew (None: not known)."""
    host = url.split("/")[2]
    sent = [("Host", host), ("Accept", "*/*"), ("User-Agent", "vats-conformance/0.1.0")]
    sent += headers or []
    if body or method == "POST":
        sent.append(("Content-Length", str(len(body))))
    ex = Exchange(
        method=method,
        url=url,
        request_headers=sent,
        request_body=body,
        signed_correctly=signed_correctly,
    )
    if status is not None:
        ex.status = status
        ex.response_headers = [("Content-Type", "application/json")]
        ex.response_body = answer
    else:
        ex.error = "no answer within 5 s (--sut-timeout)"
    ex.elapsed_ms = 4.2
    return json.loads(json.dumps(ex.to_json()))


def signed(body: bytes, *, client_id: str = CLIENT_ID, data: bytes | None = None) -> list[Any]:
    sign = signing.sign(client_id, body if data is None else data, CLIENT_KEY)
    return [
        ("Content-Type", "application/json"),
        ("X-Client-ID", client_id),
        ("X-Client-Sign", sign),
    ]


def case(
    case_id: str, verdict: str, section: str = "1.4.2", exchanges: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "id": case_id,
        "title": f"title of {case_id}",
        "section": section,
        "requirement": f"requirement of {case_id}",
        "role": "crm-webhook",
        "verdict": verdict,
        "detail": f"expected: something\nactual:   {verdict}",
        "exchanges": exchanges or [],
    }


def document(cases: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {v: sum(c["verdict"] == v for c in cases) for v in report_html.VERDICTS}
    return {
        "suite": {"name": "vats-conformance", "version": "0.1.0"},
        "target": {"client_id": CLIENT_ID, "crm_url": "http://127.0.0.1:9", "crm_embedded": False},
        "roles": {
            "crm-webhook": {"url": "http://127.0.0.1:9", "embedded": False, "summary": counts},
            "pbx-api": {"summary": {"skip": 0}},
        },
        "profile": "guide",
        "seed": 0,
        "session_tag": "abc123",
        "started": "2026-01-02T03:04:05+00:00",
        "duration_s": 12.5,
        "requests": sum(len(c["exchanges"]) for c in cases),
        "latency_ms": {"count": 1, "p50": 4.2, "p90": 4.2, "p99": 4.2, "max": 4.2},
        "summary": counts,
        "cases": cases,
    }


def hostile_document() -> dict[str, Any]:
    body = json.dumps({"x": HOSTILE, "y": "'\"&<>"}).encode()
    bad = exchange(
        "POST",
        "http://127.0.0.1:9/call_events?q=" + HOSTILE,
        body,
        [(HOSTILE, HOSTILE), *signed(body)],
        answer=HOSTILE.encode() + b"\xff\xfe",
    )
    bad["error"] = HOSTILE
    evil = case(HOSTILE, "fail", section=HOSTILE, exchanges=[bad])
    evil["title"] = evil["requirement"] = evil["detail"] = evil["role"] = HOSTILE
    odd = case(
        "odd.verdict", HOSTILE, exchanges=[exchange("GET", "http://127.0.0.1:9/x", status=None)]
    )
    doc = document([evil, odd, case("a.pass", "pass")])
    doc["profile"] = doc["session_tag"] = HOSTILE
    doc["roles"]["crm-webhook"]["url"] = "http://" + HOSTILE
    doc["roles"][HOSTILE] = {"url": HOSTILE, "embedded": True, "summary": {"fail": HOSTILE}}
    doc["cases"].append(case("x." + HOSTILE, "error"))
    doc["diagnoses"] = [
        {
            "id": HOSTILE,
            "title": HOSTILE,
            "section": HOSTILE,
            "explanation": HOSTILE,
            "fix": HOSTILE,
            "cases": [HOSTILE, "a.pass"],
            "isolated_by": HOSTILE,
            "evidence": [
                {"case": HOSTILE, "exchange": 0, "note": HOSTILE},
                {"case": HOSTILE, "exchange": HOSTILE, "note": HOSTILE},
            ],
        },
        HOSTILE,
    ]
    doc["readings"] = {
        HOSTILE: {
            HOSTILE: {
                "used": HOSTILE,
                "accepted": [HOSTILE],
                "refused": {HOSTILE: HOSTILE},
                "case": HOSTILE,
            }
        }
    }
    doc["controls"] = {
        HOSTILE: {"baseline": {HOSTILE: HOSTILE, "case": HOSTILE}, "oracle": HOSTILE}
    }
    doc["deselected"] = {HOSTILE: 3}
    return doc


class Page(HTMLParser):
    """Every tag and attribute of a page, its text, text of ``pre.curl`` and ids."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.curl: dict[str, str] = {}
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []  # every text but the script's and the style's
        self._in: tuple[str, str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag == "pre" and "curl" in values.get("class", "").split():
            self._in = ("curl", values["id"])
            self.curl[values["id"]] = ""
        elif tag in ("script", "style"):
            self._in = (tag, "")
            (self.scripts if tag == "script" else self.styles).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "script", "style"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is None or self._in[0] == "curl":
            self.text.append(data)
        if self._in is None:
            return
        kind, key = self._in
        if kind == "curl":
            self.curl[key] += data
        elif kind == "script":
            self.scripts[-1] += data
        else:
            self.styles[-1] += data

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}

    def all(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if t == tag and (cls is None or cls in a.get("class", "").split())
        ]


# -- the page --------------------------------------------------------------------


def test_hostile_text_is_escaped_everywhere() -> None:
    text = render(hostile_document())
    assert HOSTILE not in text
    assert "<img" not in text
    assert text.count("</script>") == 1
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    page = Page(text)
    assert [t for t, _ in page.tags if t in ("img", "iframe", "object", "embed", "link")] == []
    assert len(page.all("script")) == 1
    for tag, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
    # the hostile values sit in attributes only as escaped text
    cases = page.all("article", "case")
    assert {c["data-case-id"] for c in cases} >= {HOSTILE}
    assert {c["data-verdict"] for c in cases} >= {HOSTILE}
    (diagnosis,) = page.all("article", "diagnosis")
    assert diagnosis["data-diagnosis-id"] == HOSTILE
    # ... and every link still leads somewhere in the page
    assert {a["href"][1:] for t, a in page.tags if t == "a"} <= page.ids()


def test_page_loads_nothing_from_anywhere() -> None:
    text = render(hostile_document())
    page = Page(text)
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name, "")
            assert not re.match(r"\s*(https?:)?//", value, re.I), (tag, name, value)
            if name in attrs and name != "data":
                assert value.startswith("#"), (tag, name, value)
        assert not (tag == "link" and "stylesheet" in attrs.get("rel", ""))
        assert not (tag == "script" and "src" in attrs)
    css = "".join(page.styles)
    assert "url(" not in css
    assert "@import" not in css
    assert "@font-face" not in css
    script = "".join(page.scripts)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    for word in ("fetch(", "XMLHttpRequest", "import(", "WebSocket"):
        assert word not in script


def test_csp_allows_exactly_the_page_own_style_and_script() -> None:
    text = render(document([case("a", "pass")]))
    page = Page(text)
    meta = [a for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert len(meta) == 1
    policy = meta[0]["content"]
    assert "default-src 'none'" in policy
    for kind, sources in (("script-src", page.scripts), ("style-src", page.styles)):
        (source,) = sources
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{kind} 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy


def test_csp_hashes_are_those_of_the_inlined_package_files() -> None:
    """The page inlines static/report.css and report.js as they are, and allows exactly them."""
    static = resources.files("conformance.report") / "static"
    css = (static / "report.css").read_text(encoding="utf-8")
    js = (static / "report.js").read_text(encoding="utf-8")
    page = Page(render(document([case("a", "fail")])))
    assert page.styles == [css]
    assert page.scripts == [js]

    def sha256(source: str) -> str:
        return (
            "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"
        )

    (meta,) = [a for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert meta["content"] == (
        f"default-src 'none'; style-src {sha256(css)}; script-src {sha256(js)}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    assert meta["content"] == report_html.csp()


MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


def test_markup_in_results_is_shown_as_text() -> None:
    """Autoescaping: markup a target sent (detail, body, header) is text, never an element."""
    script, img = MARKUP
    answer = f'{{"result": "{script}{img}"}}'.encode()
    ex = exchange("POST", "http://h/call_events", b"{}", [(script, img)], answer=answer)
    ex["response"]["headers"].append([img, script])
    evil = case("evil", "fail", exchanges=[ex])
    evil["detail"] = f"{script}\n{img}"
    evil["title"] = f"{img}{script}"
    text = render(document([evil]))
    page = Page(text)
    assert [t for t, _ in page.tags if t == "img"] == []
    assert len(page.all("script")) == 1
    assert page.scripts == [
        (resources.files("conformance.report") / "static/report.js").read_text()
    ]
    shown = "".join(page.text)
    for markup in MARKUP:
        assert markup in shown  # as text: in the detail, the headers and the body
        assert markup not in text
    assert shown.count(script) >= 5  # detail, case row, title, two headers, the body (raw)
    (row,) = page.all("article", "case")
    assert row["data-case-id"] == "evil"


def test_lone_surrogates_are_shown_escaped() -> None:
    """results.json may hold "\\ud800"; the page (UTF-8) shows it as \\ud800 and can be written."""
    odd = case("odd\ud800", "fail")
    odd["detail"] = "a lone \udc00 surrogate"
    text = render(document([odd]))
    assert text.encode("utf-8")  # no lone surrogate left
    page = Page(text)
    assert "odd\\ud800" in {a["data-case-id"] for a in page.all("article", "case")}
    assert "a lone \\udc00 surrogate" in "".join(page.text)


def test_failures_come_first_then_by_id() -> None:
    verdicts = ["pass", "info", "fail", "skip", "non-strict", "fail", "pass", "non-strict"]
    cases = [case(f"c.{n:02d}", v) for n, v in reversed(list(enumerate(verdicts)))]
    page = Page(render(document(cases)))
    shown = [(a["data-verdict"], a["data-case-id"]) for a in page.all("article", "case")]
    rank = {v: i for i, v in enumerate(["fail", "non-strict", "info", "skip", "pass"])}
    assert shown == sorted(shown, key=lambda vc: (rank[vc[0]], vc[1]))
    assert shown[0] == ("fail", "c.02")
    assert shown[-1] == ("pass", "c.06")


def test_each_case_links_to_its_section_block() -> None:
    cases = [
        case("a", "fail", "1.4.2"),
        case("b", "pass", "А.2"),
        case("c", "pass", "A.4"),
        case("d", "skip", "9.9"),
    ]
    text = render(document(cases))
    page = Page(text)
    blocks = {a["id"] for a in page.all("section", "guide-section")}
    assert blocks == {"sec-1-4-2", "sec-A-2", "sec-A-4", "sec-9-9"}
    links = {a["data-case-id"]: a["data-section-anchor"] for a in page.all("article", "case")}
    assert links == {"a": "sec-1-4-2", "b": "sec-A-2", "c": "sec-A-4", "d": "sec-9-9"}
    hrefs = [a["href"] for a in page.all("a", "section-link")]
    assert hrefs == ["#sec-1-4-2", "#sec-9-9", "#sec-A-2", "#sec-A-4"]  # fail, skip, pass, pass
    assert {a["href"][1:] for t, a in page.tags if t == "a"} <= page.ids()
    assert "Проверка подписи" in text
    assert "Уведомление о вызовах (call_events)" in text
    assert "Запрос записи разговора" in text


def test_hooks_for_browser_tests() -> None:
    cases = [
        case(
            "mixed",
            "fail",
            exchanges=[
                exchange("POST", "http://h:1/call_events", b"{}", signed(b"{}")),
                exchange("POST", "http://h:1/api/get_record/", b"{}", signed(b"{}")),
                exchange("GET", "http://h:1/records/abc.mp3"),
            ],
        ),
        case("bare", "pass"),
    ]
    page = Page(render(document(cases)))
    for control in ("filter-method", "filter-direction", "filter-verdict", "search"):
        assert control in page.ids()
    (mixed, bare) = page.all("article", "case")
    assert mixed["data-methods"].split() == ["call_events", "get_record", "other"]
    assert mixed["data-directions"].split() == ["from-crm", "other", "to-crm"]
    assert bare["data-methods"] == bare["data-directions"] == ""
    toggles = page.all("button", "case-toggle")
    assert [t["aria-expanded"] for t in toggles] == ["false", "false"]
    assert all(t["aria-controls"] in page.ids() for t in toggles)
    blocks = page.all("section", "exchange")
    assert [(b["data-method"], b["data-direction"]) for b in blocks] == [
        ("call_events", "to-crm"),
        ("get_record", "from-crm"),
        ("other", "other"),
    ]
    method_options = {
        a["value"] for t, a in page.tags if t == "option" and "value" in a
    }  # every filter's values together
    assert {"all", "call_events", "call_back", "get_record", "to-crm", "from-crm"} <= method_options


@pytest.mark.parametrize(
    ("url", "method"),
    [
        ("https://crm.example.ru:8090/call_events", "call_events"),
        ("http://h/api/call_back?x=1", "call_back"),
        ("http://h/get_record/", "get_record"),
        ("http://h/get_record?session_id=1", "get_record"),
        ("http://h/records/get_record.mp3", "other"),
        ("http://h/admin/clients/x/limits", "other"),
        ("not a url", "other"),
    ],
)
def test_method_from_the_last_path_segment(url: str, method: str) -> None:
    assert sections.method_of(url) == method


def test_bodies_pretty_and_raw() -> None:
    body = b'{"a": 1, "a": 2.50, "b": [], "c": "\\u0410"}'
    cases = [case("c", "pass", exchanges=[exchange("POST", "http://h/call_events", body)])]
    text = render(document(cases))
    pretty = report_html.pretty_json(body.decode())
    assert pretty == '{\n  "a": 1,\n  "a": 2.50,\n  "b": [],\n  "c": "А"\n}'
    # escaped as the templates escape (Jinja2's autoescape: markupsafe writes " as &#34;)
    assert escape(pretty) in text
    assert escape(body.decode()) in text  # the raw bytes too
    assert report_html.pretty_json("not json") is None
    assert report_html.pretty_json("[" * 100_000) is None


def test_reproduction_only_for_failing_and_non_strict_cases() -> None:
    def one(verdict: str) -> dict[str, Any]:
        return case(verdict, verdict, exchanges=[exchange("POST", "http://h/call_events", b"{}")])

    page = Page(render(document([one(v) for v in report_html.VERDICTS])))
    with_curl = {re.sub(r"__ex\d+__curl$", "", key).removeprefix("case-") for key in page.curl}
    assert with_curl == {"fail", "non-strict"}
    copy_targets = {a["data-copy"] for a in page.all("button", "copy")}
    assert copy_targets == set(page.curl)


def test_element_ids_are_unique() -> None:
    ids = ["a", "a", "a.b", "a-b", "a-ex-1", "a__ex1", "a__body", "", "&&", HOSTILE]
    body = b"{}"
    cases = [
        case(i, "fail", exchanges=[exchange("POST", "http://h/call_events", body, signed(body))])
        for i in ids
    ]
    page = Page(render(document(cases)))
    every = [a["id"] for _, a in page.tags if "id" in a]
    assert len(every) == len(set(every))
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in every), every


def test_write_puts_index_next_to_results(tmp_path: Path) -> None:
    doc = document([case("a", "fail")])
    write(doc, tmp_path / "latest")
    written = (tmp_path / "latest" / "index.html").read_text(encoding="utf-8")
    assert written == render(doc)
    assert sorted(p.name for p in (tmp_path / "latest").iterdir()) == ["index.html"]


def diagnosis(diagnosis_id: str, cases: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "id": diagnosis_id,
        "title": f"title of {diagnosis_id}",
        "section": "1.4.2",
        "explanation": f"explanation of {diagnosis_id}",
        "fix": f"fix of {diagnosis_id}",
        "cases": cases,
        "isolated_by": cases[0],
        "evidence": [],
        **fields,
    }


def positions(page: Page) -> dict[str, int]:
    """Where in the page each element id (first) and each case id (``case:<id>``) opens."""
    out: dict[str, int] = {}
    for n, (_, attrs) in enumerate(page.tags):
        for key in (attrs.get("id"), "case:" + attrs.get("data-case-id", "")):
            if key and key != "case:":
                out.setdefault(key, n)
    return out


def test_diagnoses_come_first_and_lead_to_their_cases() -> None:
    body = b"{}"
    ex = [exchange("POST", "http://h/call_events", body, signed(body)) for _ in range(3)]
    cases = [
        case("crm.sign.encoding[raw-utf8]", "fail", exchanges=ex),
        case("crm.content.a", "fail", section="А.2"),
        case("crm.content.b", "pass", section="А.2"),
    ]
    doc = document(cases)
    doc["diagnoses"] = [
        diagnosis(
            "reserialised-body:call_events",
            ["crm.content.a", "crm.sign.encoding[raw-utf8]"],
            isolated_by="crm.sign.encoding[raw-utf8]",
            evidence=[
                {"case": "crm.sign.encoding[raw-utf8]", "exchange": 2, "note": "refused, HTTP 403"},
                {"case": "crm.gone", "exchange": 0, "note": "a case not in this report"},
            ],
        ),
        diagnosis("same-answer:fail:0123abcd", ["crm.content.a"], section="9.9"),
    ]
    text = render(doc)
    page = Page(text)
    at = positions(page)
    first_case = min(at["case:" + c["id"]] for c in cases)
    assert at["diagnoses"] < at["matrix"] < first_case
    cards = page.all("article", "diagnosis")
    assert [c["data-diagnosis-id"] for c in cards] == [
        "reserialised-body:call_events",
        "same-answer:fail:0123abcd",
    ]
    assert [c["id"] for c in cards] == [
        "diagnosis-reserialised-body-call-events",
        "diagnosis-same-answer-fail-0123abcd",
    ]
    hrefs = [a["href"] for t, a in page.tags if t == "a"]
    raw = report_html.dom_id("case", "crm.sign.encoding[raw-utf8]")
    assert raw == "case-crm-sign-encoding-raw-utf8"
    assert f"#{raw}__ex3" in hrefs  # the evidence: exchange 2, counted from 0, is #3
    assert f"#{raw}" in hrefs  # isolated by, and explained
    assert "#sec-1-4-2" in hrefs
    assert {h[1:] for h in hrefs} <= page.ids()  # crm.gone and 9.9 are text, not links
    assert "crm.gone" in text
    assert "9.9" in text
    assert "title of same-answer:fail:0123abcd" in text
    assert "fix of reserialised-body:call_events" in text


@pytest.mark.parametrize("diagnoses", [None, [], ["not a diagnosis"]])
def test_no_diagnoses_no_section(diagnoses: Any) -> None:
    doc = document([case("a", "fail")])
    if diagnoses is not None:
        doc["diagnoses"] = diagnoses
    page = Page(render(doc))
    assert "diagnoses" not in page.ids()
    assert page.all("article", "diagnosis") == []


def test_suite_errors_are_apart_from_the_target_verdicts() -> None:
    cases = [case("x.broken", "error"), case("y.fails", "fail"), case("z.passes", "pass")]
    text = render(document(cases))
    page = Page(text)
    at = positions(page)
    assert at["diagnoses" if "diagnoses" in at else "suite-errors"] <= at["suite-errors"]
    assert at["suite-errors"] < at["case:x.broken"] < at["matrix"]
    assert at["cases"] < at["case:y.fails"] < at["case:z.passes"]
    assert not at["cases"] < at["case:x.broken"] < at["guide-sections"]
    (broken,) = (a for a in page.all("article", "case") if a["data-verdict"] == "error")
    assert "v-error" in broken["class"].split()
    totals = [a for a in page.all("button", "chip") if a.get("data-filter-verdict") == "error"]
    assert len(totals) == 1
    assert "error" in {a["value"] for t, a in page.tags if t == "option"}
    assert [a for a in page.all("th") if a.get("class") == "v-error"]  # a matrix column
    assert "<title>VATS conformance: 1 fail, 1 suite error</title>" in text
    only_error = render(document([case("x.broken", "error"), case("z.passes", "pass")]))
    assert "<title>VATS conformance: no failures, 1 suite error</title>" in only_error
    clean = Page(render(document([case("y.fails", "fail")])))
    assert "suite-errors" not in clean.ids()
    assert not [a for a in clean.all("th") if a.get("class") == "v-error"]


def test_readings_controls_and_deselected_cases_in_the_header() -> None:
    doc = document([case("crm.reading.timestamp", "info"), case("crm.sign.valid", "pass")])
    doc["readings"] = {
        "crm-webhook": {
            "timestamp": {
                "used": "unix-string",
                "accepted": ["unix-string", "unix-number"],
                "refused": {"moscow-datetime": "HTTP 400 bad timestamp"},
                "case": "crm.reading.timestamp",
            }
        },
        "pbx-api": {"result_type": {"used": "string"}},
    }
    doc["controls"] = {
        "crm-webhook": {
            "baseline": {"shape": "guide", "spelling": "raw-utf8", "case": "crm.sign.valid"},
            "oracle": "lifecycle",
        },
        "pbx-api": {"baseline": None, "oracle": "none"},
    }
    doc["deselected"] = {"needs --pbx-url": 12, "needs --destructive": 1}
    text = render(doc)
    page = Page(text)
    at = positions(page)
    assert at["readings"] < at["controls"] < at["matrix"]
    header = text[: text.index("</header>")]
    for shown in (
        "unix-string, unix-number",
        "<b>moscow-datetime</b> (HTTP 400 bad timestamp)",
        "result_type",
        "spelling <b>raw-utf8</b>",
        "oracle <b>lifecycle</b>",
        "<b>no baseline</b>",
        "12 cases not run: needs --pbx-url",
        "1 case not run: needs --destructive",
    ):
        assert shown in header, shown
    hrefs = {a["href"] for t, a in page.tags if t == "a"}
    assert {"#case-crm-reading-timestamp", "#case-crm-sign-valid"} <= hrefs


# -- junit.xml -------------------------------------------------------------------


def junit_of(cases: list[dict[str, Any]], fail_on: str = "fail") -> ET.Element:
    doc = document(cases)
    doc["settings"] = {"fail_on": fail_on}
    return junit.build(doc).getroot()


def test_junit_time_is_the_case_own_not_its_shared_exchanges() -> None:
    """A pbx-events case cites the run's shared call_back; its time is its own."""
    shared = exchange("POST", "http://127.0.0.1:9/call_back", b"{}")
    timed = case("x.timed", "pass", exchanges=[shared])
    untimed = case("y.old", "pass", exchanges=[shared])
    timed["duration_s"] = 0.25
    times = {tc.get("name"): tc.get("time") for tc in junit_of([timed, untimed]).iter("testcase")}
    assert times == {"x.timed": "0.250", "y.old": "0.004"}  # without duration_s: its exchanges


def test_a_received_notification_shows_no_made_up_time() -> None:
    got = exchange("POST", "http://127.0.0.1:9/call_events", b"{}")
    del got["elapsed_ms"]
    got["received"] = True
    page = render(document([case("events.x", "fail", exchanges=[got])]))
    assert '<span class="elapsed">received</span>' in page
    assert '<span class="elapsed">?</span>' not in page


def test_junit_error_is_an_error_not_a_failure() -> None:
    broken = case("x.broken", "error")
    broken["detail"] = "AttributeError: 'NoneType' object has no attribute 'status'\nTraceback"
    known = case("x.known", "error")
    known["known"] = "listed in the baseline"
    suite = junit_of([broken, known, case("y.fails", "fail"), case("z.ns", "non-strict")])
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "2")
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    (error,) = cases["x.broken"].findall("error")
    assert error.get("type") == "error"
    assert error.get("message") == "AttributeError: 'NoneType' object has no attribute 'status'"
    assert cases["x.broken"].find("failure") is None
    assert cases["x.known"].find("error") is not None  # a baseline does not excuse it
    assert cases["y.fails"].find("failure") is not None
    assert cases["z.ns"].find("failure") is None
    strict = junit_of([broken, case("z.ns", "non-strict")], fail_on="non-strict")
    assert (strict.get("failures"), strict.get("errors")) == ("1", "1")
    clean = junit_of([case("y.fails", "fail")])
    assert clean.get("errors") == "0"


# -- reproductions ---------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Recorder:
    """A handler that records every request and answers 200."""

    seen: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.seen.append(
                Received(
                    request.method,
                    request.path,
                    request.query.decode("latin-1"),
                    list(request.headers.items()),
                    request.body,
                )
            )
        return Response(200, b'{"result": 0}', [("Content-Type", "application/json")])


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[str, Recorder]]:
    app = Recorder()
    # On http.server: the headers keep the names curl sent (uvicorn lowercases them).
    with serving(app, names_as_sent=True) as url:
        yield url, app


needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("bash", "curl", "base64", "sha256sum")),
    reason="bash, curl, base64 and sha256sum are needed to run a reproduction",
)


def run_script(script: str, recorder: Recorder) -> Received:
    """Run ``script`` with the credentials in the environment; what the server got."""
    before = len(recorder.seen)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VATS_CLIENT_ID": CLIENT_ID,
        "VATS_CLIENT_KEY": CLIENT_KEY,
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout.startswith(b"HTTP/1.1 200"), done.stdout[:200]
    assert len(recorder.seen) == before + 1
    return recorder.seen[-1]


def kept(headers: list[Any]) -> list[tuple[str, str]]:
    return [
        (name.lower(), value)
        for name, value in headers
        if name.lower() not in curl.DROPPED and not name.lower().startswith("accept")
    ]


def assert_same_request(ex: dict[str, Any], got: Received) -> None:
    request = ex["request"]
    url = request["url"]
    path, _, query = url.split("/", 3)[3].partition("?")
    assert got.method == request["method"]
    assert (got.path, got.query) == ("/" + path, query)
    assert got.body == body_bytes(request)
    wanted = kept(request["headers"])
    arrived = [(n.lower(), v) for n, v in got.headers]
    for header in wanted:
        assert header in arrived, (header, arrived)
    sent_names = {n for n, _ in wanted}
    extra = {n for n, _ in arrived} - sent_names - curl.DROPPED - {"accept"}
    assert extra == set(), extra  # no Content-Type, Expect... of curl's own


TEXT_BODY = (
    b'{"a": "it\'s \\"quoted\\"", "$HOME": "$(id) `id` ${X} \\\\n !x %s %%"}\n\nsecond line  \n'
)
NOT_UTF8 = b'{"disconnect_reason": "\xce\xf2\xe1\xee\xe9 \xe2\xfb\xe7\xee\xe2\xe0"}\x00\r\n\t'
CYRILLIC_TAB = '{"a":\t"Отбой"}'.encode()


def cases_to_replay(url: str) -> dict[str, dict[str, Any]]:
    """Requests to send again, each with what its sender knew: signed correctly or not."""
    events = f"{url}/call_events"
    long_body = b'{"pad": "' + b"x" * 5000 + b'"}'
    query = "session_id=abc-1%20%26%24"

    def correct(method: str, to: str, body: bytes = b"", **kw: Any) -> dict[str, Any]:
        return exchange(method, to, body, signed_correctly=True, **kw)

    def wrong(method: str, to: str, body: bytes = b"", **kw: Any) -> dict[str, Any]:
        return exchange(method, to, body, signed_correctly=False, **kw)

    return {
        "text": correct("POST", events, TEXT_BODY, headers=signed(TEXT_BODY)),
        "at-sign": correct("POST", events, b"@/etc/passwd", headers=signed(b"@/etc/passwd")),
        "not-utf8": correct("POST", events, NOT_UTF8, headers=signed(NOT_UTF8)),
        "tab": correct("POST", events, CYRILLIC_TAB, headers=signed(CYRILLIC_TAB)),
        "long": correct("POST", events, long_body, headers=signed(long_body)),
        "empty": correct("POST", events, b"", headers=signed(b"")),
        "get-query": correct(
            "GET",
            f"{url}/get_record?{query}",
            headers=signed(b"", data=query.encode())[1:],
        ),
        "wrong-sign": wrong(
            "POST", events, b"{}", headers=[*signed(b"{}")[:2], ("X-Client-Sign", "0" * 64)]
        ),
        "uppercase-sign": wrong(
            "POST",
            events,
            b"{}",
            headers=[
                *signed(b"{}")[:2],
                ("X-Client-Sign", signing.sign(CLIENT_ID, b"{}", CLIENT_KEY).upper()),
            ],
        ),
        "foreign-id-own-sign": wrong(
            "POST", events, b"{}", headers=signed(b"{}", client_id=FOREIGN_ID)
        ),
        "foreign-id-run-sign": correct(
            "POST",
            events,
            b"{}",
            headers=[
                ("X-Client-ID", FOREIGN_ID),
                *signed(b"{}")[2:],
                ("Content-Type", "text/plain"),
            ],
        ),
        "no-content-type-empty-id": correct(
            "POST", events, b"{}", headers=[("X-Client-ID", ""), signed(b"{}")[2]]
        ),
        "odd-header-case": correct(
            "POST",
            events,
            b"{}",
            headers=[
                ("cOnTeNt-tYpE", "application/json"),
                ("x-client-id", CLIENT_ID),
                ("x-client-sign", signing.sign(CLIENT_ID, b"{}", CLIENT_KEY)),
            ],
        ),
        "delete": correct("DELETE", events, headers=signed(b"")),
        "put": correct("PUT", events, b'{"state": "new"}', headers=signed(b'{"state": "new"}')),
    }


#: Which reproductions compute X-Client-Sign in the shell (the rest copy it).
COMPUTED = {
    "text",
    "at-sign",
    "not-utf8",
    "tab",
    "long",
    "empty",
    "get-query",
    "foreign-id-run-sign",
    "no-content-type-empty-id",
    "odd-header-case",
    "delete",
    "put",
}


@needs_tools
@pytest.mark.parametrize("name", sorted(cases_to_replay("http://h")))
def test_reproduction_sends_the_same_request(name: str, recorder: tuple[str, Recorder]) -> None:
    url, app = recorder
    ex = cases_to_replay(url)[name]
    script = reproduce(ex, CLIENT_ID)
    assert CLIENT_KEY not in script
    assert ("$SIGN" in script) == (name in COMPUTED), script
    got = run_script(script, app)
    assert_same_request(ex, got)
    if name in COMPUTED:
        data = curl.signed_data(ex["request"])
        expected = signing.sign(CLIENT_ID, data, CLIENT_KEY)
        assert (signing.SIGN_HEADER.lower(), expected) in [(n.lower(), v) for n, v in got.headers]


@needs_tools
def test_signature_follows_an_edited_body(recorder: tuple[str, Recorder]) -> None:
    """The signature is computed from the body in the script, not copied: edit one, both follow."""
    url, app = recorder
    ex = exchange("POST", f"{url}/call_events", b'{"a": 1}', signed(b'{"a": 1}'))
    script = reproduce(ex, CLIENT_ID, signed_correctly=True)
    assert script.count("BODY='{\"a\": 1}'") == 1
    got = run_script(script.replace("BODY='{\"a\": 1}'", "BODY='{\"a\": 2}'"), app)
    assert got.body == b'{"a": 2}'
    assert dict(got.headers)["X-Client-Sign"] == signing.sign(CLIENT_ID, b'{"a": 2}', CLIENT_KEY)


@needs_tools
def test_reproduction_copied_from_the_page_works(recorder: tuple[str, Recorder]) -> None:
    """What the copy button copies (the text of ``pre.curl``) sends the same bytes."""
    url, app = recorder
    replays = cases_to_replay(url)
    names = ["text", "not-utf8", "get-query", "wrong-sign"]
    doc = document([case(n, "fail", exchanges=[replays[n]]) for n in names])
    doc["cases"][0]["exchanges"][0]["request"]["url"] += "?q=" + HOSTILE.replace(" ", "%20")
    text = render(doc)
    assert CLIENT_KEY not in text
    scripts = Page(text).curl
    assert len(scripts) == len(names)
    for c in doc["cases"]:
        key = f"case-{c['id']}__ex1__curl"
        assert_same_request(c["exchanges"][0], run_script(scripts[key], app))


def test_without_the_flag_everything_is_literal() -> None:
    body = b'{"a": 1}'
    ex = exchange("POST", "http://h/call_events", body, signed(body))
    script = reproduce(ex, CLIENT_ID)
    assert "$SIGN" not in script
    assert "VATS_CLIENT_KEY" not in script
    assert signing.sign(CLIENT_ID, body, CLIENT_KEY) in script
    assert '"X-Client-ID: $VATS_CLIENT_ID"' in script
    other = reproduce(ex, FOREIGN_ID)
    assert "VATS_CLIENT_ID" not in other
    assert f"X-Client-ID: {CLIENT_ID}" in other
