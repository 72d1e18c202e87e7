"""results.json as one self-contained page: ``index.html``, readable offline from disk.

``page.build`` (with ``cases.case_view``) turns the document into plain data; the
Jinja2 templates in ``templates/`` render it with autoescaping: bodies, headers,
ids and details come from systems under test and are treated as hostile. The
page loads nothing: its CSS and JS (``static/report.css``, ``static/report.js``)
are inlined, no fonts, no images, and its Content-Security-Policy allows only
those two texts, by their hashes: even an injection that escaped the escaping
could not run. The script only toggles visibility, sets text and copies text;
it never parses HTML.

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

import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Template
from markupsafe import Markup

from conformance import templating
from conformance.report.cases import VERDICTS, case_view, dom_id
from conformance.report.page import build
from conformance.report.text import counted, pretty_json, visible

# VERDICTS, dom_id and pretty_json: the self-tests name them from here, as before the split.
__all__ = ["VERDICTS", "csp", "dom_id", "prepare", "pretty_json", "render", "write"]

_PACKAGE = "conformance.report"


@cache
def _assets() -> tuple[templating.Inline, templating.Inline]:
    return (
        templating.inline(_PACKAGE, "static/report.css", "style"),
        templating.inline(_PACKAGE, "static/report.js", "script"),
    )


def csp() -> str:
    """The page's Content-Security-Policy: nothing may load; only its own style and script apply."""
    style, script = _assets()
    return (
        "default-src 'none'; "
        f"style-src {style.csp}; "
        f"script-src {script.csp}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )


@cache
def _template() -> Template:
    env = templating.environment(_PACKAGE)
    env.filters["visible"] = visible
    env.filters["counted"] = counted
    return env.get_template("index.html.j2")


def render(
    document: Mapping[str, Any],
    beside: Sequence[str] = (),
    rendered: Mapping[str, tuple[str, Markup]] | None = None,
) -> str:
    """The report of ``document`` (results.json, already redacted) as one HTML page.

    ``beside`` names files written next to it that the page links to (the contract's
    exports, D50): plain file names, relative to the page. ``rendered``: cases made
    into HTML as they ended (``prepare``), by case id; the page is the same text.
    """
    style, script = _assets()
    return _template().render(
        page=build(document, rendered), beside=beside, csp=csp(), css=style.text, js=script.text
    )


def prepare(case: Mapping[str, Any], client_id: str) -> tuple[str, Markup]:
    """The HTML of one case of results.json (redacted), made before the page: under
    pytest-xdist the controller makes each as its result arrives, while the workers
    run the next cases, instead of all of them after the last (D62). Returns the
    element id it was made with and the HTML, for ``render``'s ``rendered``."""
    element = dom_id("case", str(case.get("id")))
    macro = _template().environment.get_template("case.html.j2").module.case  # type: ignore[attr-defined]
    made = macro(case_view(case, element, client_id))
    if not isinstance(made, Markup):  # an autoescaping template's macro makes Markup
        raise TypeError(f"case.html.j2's macro made {type(made).__name__}, not Markup")
    return element, made


def write(
    document: Mapping[str, Any],
    report_dir: Path,
    beside: Sequence[str] = (),
    rendered: Mapping[str, tuple[str, Markup]] | None = None,
) -> None:
    """Write ``report_dir/index.html`` (next to results.json), replacing it at once."""
    report_dir.mkdir(parents=True, exist_ok=True)
    target = report_dir / "index.html"
    partial = report_dir / ".index.html.partial"
    partial.write_text(render(document, beside, rendered), encoding="utf-8")
    os.replace(partial, target)
