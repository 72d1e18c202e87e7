"""A plugin that plants a bug in the suite's listener once the last case has run.

Loaded into a child run with ``-p tests.listener_late_bug``: as the last case's
teardown begins (its record read, no case left to read it again), a notification
reaches a listener whose wake-up of the waiting cases fails, as a bug there would.
Only the end of the run can say so.
"""

from __future__ import annotations

import httpx
import pytest

from conformance.run import RUN


def _broken() -> None:
    raise ValueError("a bug planted after the last case")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    listener = item.config.stash[RUN].listener
    if nextitem is None and listener is not None and listener.server.is_running():
        listener.server.dispatched = _broken
        httpx.post(listener.url + "/call_events", content=b"{}", timeout=5.0, trust_env=False)
