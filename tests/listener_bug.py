"""A plugin that plants a bug in the suite's listener, for the test that it surfaces.

Loaded into a child run with ``-p tests.listener_bug``: the listener's handler
raises on every request, as a bug in it would.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.transport import listener


def _broken(*args: Any, **kwargs: Any) -> None:
    raise ValueError("a bug planted in the listener")


def pytest_configure(config: pytest.Config) -> None:
    listener.parse_json = _broken  # type: ignore[assignment]
