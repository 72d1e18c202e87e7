"""A plugin that plants a bug in the suite itself, for the test of the ``error`` verdict.

Loaded into a child run with ``-p tests.suite_bug``: every judgement through
``checks.accepted`` raises, as a bug in the suite would.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.grading import checks


def _broken(*args: Any, **kwargs: Any) -> None:
    raise ZeroDivisionError("a bug planted in the suite")


def pytest_configure(config: pytest.Config) -> None:
    checks.accepted = _broken  # type: ignore[assignment]
