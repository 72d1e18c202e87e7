"""A case's finding is reported without pytest's traceback of it (issue 13, speed).

pytest renders a failing call's traceback with the source of each entry, read and
parsed: some 70 ms for each case that raised a finding, which the plugin then
replaced with the suite's own text. Anything that is not a finding keeps pytest's
report.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import plugin

pytest_plugins = ["pytester"]

CASE = """
from conformance.grading.verdict import case, {raise_}

@case("x.y", section="А.2", title="t", requirement="r", role="crm-webhook")
def test_func():
    raise {raise_}("expected", "actual")
"""


def _called(pytester: pytest.Pytester, source: str) -> tuple[pytest.Item, pytest.CallInfo[None]]:
    item = pytester.getitem(source)
    return item, pytest.CallInfo.from_call(item.runtest, "call")


def _counting(monkeypatch: pytest.MonkeyPatch, item: pytest.Item) -> list[Any]:
    rendered: list[Any] = []

    def repr_failure(excinfo: Any, style: Any = None) -> str:
        rendered.append(excinfo)
        return "traceback"

    monkeypatch.setattr(item, "repr_failure", repr_failure)
    return rendered


@pytest.mark.parametrize("raise_", ["info", "non_strict", "fail"])
def test_a_finding_gets_no_traceback(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, raise_: str
) -> None:
    item, call = _called(pytester, CASE.format(raise_=raise_))
    rendered = _counting(monkeypatch, item)
    report = plugin.pytest_runtest_makereport_finding(item, call)
    assert report is not None
    assert rendered == []
    expected = pytest.TestReport.from_item_and_call(item, call)  # pytest's own, for comparison
    assert len(rendered) == 1
    assert (report.nodeid, report.location, report.keywords) == (
        expected.nodeid,
        expected.location,
        expected.keywords,
    )
    assert (report.outcome, report.when, report.duration, report.sections) == (
        "failed",
        "call",
        call.duration,
        expected.sections,
    )
    assert report.longrepr == "expected: expected\nactual:   actual"


def test_anything_else_keeps_pytests_report(pytester: pytest.Pytester) -> None:
    error = CASE.format(raise_="info").replace("raise info(", "raise ValueError(")
    item, call = _called(pytester, error)
    # a suite error shows its traceback
    assert plugin.pytest_runtest_makereport_finding(item, call) is None
    plain, plain_call = _called(pytester, "def test_func():\n    raise AssertionError\n")
    assert plugin.pytest_runtest_makereport_finding(plain, plain_call) is None  # not a case


def test_it_is_the_first_report_maker(pytester: pytest.Pytester) -> None:
    item = pytester.getitem("def test_func():\n    pass\n")
    impls = item.config.pluginmanager.hook.pytest_runtest_makereport.get_hookimpls()
    ours = [i for i in impls if i.function is plugin.pytest_runtest_makereport_finding]
    assert ours
    assert ours[0].tryfirst
