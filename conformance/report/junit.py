"""junit.xml: one testcase per case id, for CI systems that read JUnit.

JUnit knows only passed, failed and skipped; the suite has five verdicts. Each
testcase therefore carries its verdict, section, role and requirement as
properties, and a ``non-strict`` or ``info`` verdict that does not fail the run
is also written to the testcase's ``system-out`` (where CI systems show it) --
visible, not lost. A verdict that reaches ``--fail-on`` is a ``failure``; a
known deviation (``--baseline``) is not, and says so. The verdict ``error`` (the
suite's own fault, an unexpected exception in a case) is a JUnit ``error``,
counted apart and never a failure of the target, whatever ``--fail-on`` or the
baseline say.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conformance.grading.verdict import RANK, Verdict

#: The suite's own fault (results.json ``verdict``): a JUnit error, not a failure.
ERROR = "error"


def build(document: dict[str, Any]) -> ET.ElementTree[ET.Element]:
    fail_on = Verdict(document["settings"]["fail_on"])
    cases = document["cases"]
    suite = ET.Element(
        "testsuite",
        name="vats-conformance",
        timestamp=document["started"],
        time=f"{document['duration_s']:.3f}",
    )
    failures = skipped = errors = 0
    for case in cases:
        # The case's own wall time: its exchanges may be shared with other cases.
        elapsed = case.get("duration_s")
        if not isinstance(elapsed, int | float):
            elapsed = sum(ex.get("elapsed_ms", 0.0) for ex in case["exchanges"]) / 1000
        tc = ET.SubElement(
            suite, "testcase", classname=case["role"], name=case["id"], time=f"{elapsed:.3f}"
        )
        props = ET.SubElement(tc, "properties")
        for name in ("verdict", "section", "role", "requirement", "known"):
            if case.get(name):
                ET.SubElement(props, "property", name=name, value=str(case[name]))
        text = f"{case['verdict']}: {case['requirement']}\n{case['detail']}".strip()
        if case["verdict"] == ERROR:
            errors += 1
            ET.SubElement(tc, "error", message=_first_line(case), type=ERROR).text = text
            continue
        verdict = Verdict(case["verdict"])
        if case.get("stale"):
            failures += 1
            ET.SubElement(
                tc, "failure", message="baseline entry is stale", type="stale"
            ).text = case["stale"]
        elif verdict is Verdict.SKIP:
            skipped += 1
            ET.SubElement(tc, "skipped", message=case["detail"][:200])
        elif (
            RANK[verdict] >= RANK[fail_on] and verdict is not Verdict.PASS and not case.get("known")
        ):
            failures += 1
            ET.SubElement(tc, "failure", message=_first_line(case), type=str(verdict)).text = text
        elif verdict is not Verdict.PASS:
            known = f"KNOWN ({case['known']}) " if case.get("known") else ""
            ET.SubElement(tc, "system-out").text = f"{known}{text}"
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    ET.indent(suite)
    return ET.ElementTree(suite)


def _first_line(case: dict[str, Any]) -> str:
    detail: str = case["detail"]
    return (detail.splitlines()[0] if detail else str(case["verdict"]))[:200]


def write(path: Path, document: dict[str, Any]) -> None:
    build(document).write(path, encoding="utf-8", xml_declaration=True)
