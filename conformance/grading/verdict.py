"""Graded verdicts (after Autobahn|Testsuite) and the metadata every case carries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    #: The suite's own fault (an unexpected exception in a case): never the target's.
    ERROR = "error"


#: How far each verdict goes towards failing a run (``--fail-on``). ``error`` is
#: outside this scale: it says nothing of the target and sets exit status 3.
RANK: dict[Verdict, int] = {
    Verdict.SKIP: 0,
    Verdict.PASS: 0,
    Verdict.ERROR: 0,
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
    #: What the case needs beyond its role's target: ``"calls"`` (it places a call,
    #: or its control is one: the parties must be known) and ``"listen"`` (it needs
    #: the notifications of a placed call). Cases whose needs a run cannot meet are
    #: deselected, not skipped (plugin.py).
    needs: frozenset[str] = frozenset()
    #: The case sends generated examples (``explore``): its length grows with
    #: ``--examples``. Under pytest-xdist such cases are handed out first (D62).
    generated: bool = False
    #: The bracketed part of the id when one marker per parameter carries it
    #: (table-driven cases): ``""`` for none; None means pytest's parameter id.
    variant: str | None = None


class Finding(Exception):
    """A case's judgement other than ``pass``: raised by checks, caught by the plugin.

    ``evidence`` holds the exchanges the judgement rests on (the plugin records
    their positions in the case's wire log, for the report and the diagnoses).
    """

    def __init__(
        self, verdict: Verdict, expected: str, actual: str, evidence: Iterable[Any] = ()
    ) -> None:
        super().__init__(f"expected: {expected}\nactual:   {actual}")
        self.verdict = verdict
        self.expected = expected
        self.actual = actual
        self.evidence = list(evidence)


def fail(expected: str, actual: str, *evidence: Any) -> Finding:
    return Finding(Verdict.FAIL, expected, actual, evidence)


def non_strict(expected: str, actual: str, *evidence: Any) -> Finding:
    return Finding(Verdict.NON_STRICT, expected, actual, evidence)


def info(expected: str, actual: str, *evidence: Any) -> Finding:
    return Finding(Verdict.INFO, expected, actual, evidence)


def finding(verdict: Verdict, expected: str, actual: str, *evidence: Any) -> Finding:
    return Finding(verdict, expected, actual, evidence)


F = TypeVar("F", bound=Callable[..., Any])


def case(
    id: str,
    *,
    section: str,
    requirement: str,
    title: str,
    role: str,
    destructive: bool = False,
    needs: Iterable[str] = (),
    generated: bool = False,
) -> Callable[[F], F]:
    """Attach a case's identity to a test function (read back by the plugin)."""
    info_ = CaseInfo(
        id=id,
        title=title,
        section=section,
        requirement=requirement,
        role=role,
        destructive=destructive,
        needs=frozenset(needs),
        generated=generated,
    )

    def mark(fn: F) -> F:
        marked: F = pytest.mark.vats_case(info_)(fn)
        return marked

    return mark


def case_param(value: Any, *, variant: str, **meta: Any) -> Any:
    """One parameter of a table-driven test, as a case of its own (``case``'s keywords).

    The case id is ``id[variant]`` (or ``id`` when ``variant`` is empty): a row of
    a table of cases becomes a case with its own id, section and requirement.
    """
    needs = frozenset(meta.pop("needs", ()))
    info_ = CaseInfo(variant=variant, needs=needs, **meta)
    param_id = f"{info_.id}-{variant}" if variant else info_.id
    return pytest.param(value, id=param_id, marks=pytest.mark.vats_case(info_))
