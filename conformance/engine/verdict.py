"""Graded verdicts (after Autobahn|Testsuite) and the metadata every case carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import pytest


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NON_STRICT = "non-strict"
    INFO = "info"
    SKIP = "skip"


#: How far each verdict goes towards failing a run (``--fail-on``).
RANK: dict[Verdict, int] = {
    Verdict.SKIP: 0,
    Verdict.PASS: 0,
    Verdict.INFO: 1,
    Verdict.NON_STRICT: 2,
    Verdict.FAIL: 3,
}


@dataclass(frozen=True)
class CaseInfo:
    """What a case checks: a stable id, the guide section, one requirement sentence."""

    id: str
    title: str
    section: str
    requirement: str
    role: str
    destructive: bool = False


class Finding(Exception):
    """A case's judgement other than ``pass``: raised by checks, caught by the plugin."""

    def __init__(self, verdict: Verdict, expected: str, actual: str) -> None:
        super().__init__(f"expected: {expected}\nactual:   {actual}")
        self.verdict = verdict
        self.expected = expected
        self.actual = actual


def fail(expected: str, actual: str) -> Finding:
    return Finding(Verdict.FAIL, expected, actual)


def non_strict(expected: str, actual: str) -> Finding:
    return Finding(Verdict.NON_STRICT, expected, actual)


def info(expected: str, actual: str) -> Finding:
    return Finding(Verdict.INFO, expected, actual)


F = TypeVar("F", bound=Callable[..., Any])


def case(
    id: str,
    *,
    section: str,
    requirement: str,
    title: str,
    role: str,
    destructive: bool = False,
) -> Callable[[F], F]:
    """Attach a case's identity to a test function (read back by the plugin)."""
    info_ = CaseInfo(
        id=id,
        title=title,
        section=section,
        requirement=requirement,
        role=role,
        destructive=destructive,
    )

    def mark(fn: F) -> F:
        marked: F = pytest.mark.vats_case(info_)(fn)
        return marked

    return mark
