"""A pytest plugin for tests/test_baseline.py: the user presses Ctrl-C once the first
case has finished (``-p tests.interrupting``)."""

from __future__ import annotations


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    raise KeyboardInterrupt
