"""A case's block of index.html made as its result came in (``html.prepare``, as the
pytest-xdist controller does while the workers run on, D62) gives the same page, byte
for byte, as the page made whole; a block made under an element id the page does not
give that case (two ids of one slug) is made again, never put in under the wrong id."""

from __future__ import annotations

from conformance.report import html as report_html
from tests.test_report import case, document, exchange, hostile_document


def _mixed() -> dict[str, object]:
    cases = [
        case("crm.a.b", "pass", exchanges=[exchange("POST", "http://127.0.0.1:9/call_events")]),
        case("crm.a-b", "fail", exchanges=[exchange("GET", "http://127.0.0.1:9/r", status=None)]),
        case("crm.boom", "error"),
        case("crm.c[x]", "skip"),
    ]
    return document(cases)


def test_the_page_is_the_same_with_every_case_prepared() -> None:
    for doc in (_mixed(), hostile_document()):
        client_id = doc["target"]["client_id"]  # type: ignore[index]
        prepared = {c["id"]: report_html.prepare(c, client_id) for c in doc["cases"]}  # type: ignore[attr-defined]
        assert report_html.render(doc, rendered=prepared) == report_html.render(doc)


def test_a_block_under_another_element_id_is_made_again() -> None:
    doc = _mixed()
    client_id = doc["target"]["client_id"]  # type: ignore[index]
    prepared = {c["id"]: report_html.prepare(c, client_id) for c in doc["cases"]}  # type: ignore[attr-defined]
    # both slug to case-crm-a-b; the page gives the second one it places case-crm-a-b-2
    assert prepared["crm.a.b"][0] == prepared["crm.a-b"][0] == "case-crm-a-b"
    page = report_html.render(doc, rendered=prepared)
    assert page == report_html.render(doc)
    assert page.count('id="case-crm-a-b"') == 1
    assert 'id="case-crm-a-b-2"' in page


def test_a_prepared_block_is_what_the_page_shows() -> None:
    """The prepared block is used, not made again: a marker put in it shows."""
    doc = _mixed()
    client_id = doc["target"]["client_id"]  # type: ignore[index]
    element, block = report_html.prepare(doc["cases"][3], client_id)  # type: ignore[index]
    marked = block + report_html.Markup("<!-- prepared -->")
    page = report_html.render(doc, rendered={"crm.c[x]": (element, marked)})
    assert "<!-- prepared -->" in page
