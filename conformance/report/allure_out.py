"""Allure output: labels, links, descriptions and the wire log of every case.

Active with ``--alluredir`` (allure-pytest); without it the calls below are
no-ops. Labels: the role is the *feature*, the guide method the *story*, the
verdict sets the *severity* (and is a tag, since Allure's own status knows only
passed/failed/skipped). The requirement is the description; the link goes to
the case's section block in the suite's own report (index.html).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import allure
import allure_commons

from conformance.grading.verdict import CaseInfo, Verdict
from conformance.report import results
from conformance.spec.sections import section_anchor
from conformance.transport.client import Exchange

SEVERITY = {
    Verdict.FAIL: allure.severity_level.CRITICAL,
    Verdict.NON_STRICT: allure.severity_level.NORMAL,
    Verdict.INFO: allure.severity_level.MINOR,
    Verdict.PASS: allure.severity_level.TRIVIAL,
    Verdict.SKIP: allure.severity_level.TRIVIAL,
    # The suite's own fault: Allure shows the exception as "broken", apart from failures.
    Verdict.ERROR: allure.severity_level.NORMAL,
}
METHODS = ("call_events", "call_back", "get_record")


def method_of(info: CaseInfo, exchanges: list[Exchange]) -> str:
    """The guide method a case is about: the one most of its exchanges call."""
    seen = Counter(
        m
        for ex in exchanges
        if (m := ex.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]) in METHODS
    )
    if seen:
        return seen.most_common(1)[0][0]
    if info.role == "pbx-api":
        return "get_record" if "get-record" in info.id else "call_back"
    return "call_events"


def labels(info: CaseInfo, report_dir: Path) -> None:
    """At setup: what does not depend on the outcome."""
    allure.dynamic.feature(info.role)
    allure.dynamic.label("section", info.section)
    page = (report_dir / "index.html").resolve().as_uri()
    allure.dynamic.link(f"{page}#{section_anchor(info.section)}", name=f"Guide {info.section}")


def describe(info: CaseInfo, case_id: str) -> None:
    """At the call (allure-pytest sets name and description from the item after setup)."""
    allure.dynamic.title(f"{case_id}: {info.title}")
    allure.dynamic.description(f"{info.requirement}\n\nGuide section {info.section}.")


def attachments_wanted() -> bool:
    """Whether a reporter takes attachments: allure-pytest registers one only with --alluredir."""
    return bool(allure_commons.plugin_manager.hook.attach_data.get_hookimpls())


def after(info: CaseInfo, verdict: Verdict, exchanges: list[Exchange], secrets: list[str]) -> None:
    allure.dynamic.story(method_of(info, exchanges))
    allure.dynamic.severity(SEVERITY[verdict])
    allure.dynamic.tag(str(verdict))
    if not attachments_wanted():
        return  # no Allure run: the wire log is not serialized for nobody (issue 13, speed)
    for n, ex in enumerate(exchanges, 1):
        record = results.redact_tree(ex.to_json(), secrets)
        allure.attach(
            json.dumps(record, ensure_ascii=False, indent=2),
            name=f"exchange {n}: {ex.method} {ex.url}",
            attachment_type=allure.attachment_type.JSON,
        )
