"""The catalogue of cases: complete, unique, well-formed, and docs/CASES.md up to date."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.support import ROOT

SECTIONS = {"1.3", "1.4.1", "1.4.2", "3.1.2", "3.1.3", "3.2.1", "А.2", "А.3", "А.4"}
ID = re.compile(r"^[a-z]+(\.[a-z0-9-]+)+(\[[A-Za-z0-9._-]+\])?$")


@pytest.fixture(scope="module")
def cases() -> list:
    """(id, section, requirement, title) of every case, collected in a child process."""
    script = (
        "import json; from conformance.catalogue import collect; "
        "print(json.dumps([(c, i.section, i.requirement, i.title) for c, i in collect()]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_at_least_forty_cases(cases: list) -> None:
    assert len(cases) >= 40


def test_ids_are_unique_and_well_formed(cases: list) -> None:
    ids = [c[0] for c in cases]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not ID.match(i)] == []


def test_every_case_names_a_section_and_one_requirement(cases: list) -> None:
    for cid, section, requirement, title in cases:
        assert section in SECTIONS, cid
        assert requirement.endswith("."), cid
        assert requirement.count(". ") == 0, f"{cid}: one sentence"
        assert not re.search(r"\b(should|test that)\b", requirement + title, re.I), cid


def test_docs_cases_md_is_current() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.catalogue"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert (ROOT / "docs" / "CASES.md").read_text(encoding="utf-8") == done.stdout, (
        "docs/CASES.md is stale: python -m conformance.catalogue > docs/CASES.md"
    )
