"""The client's watchdog thread is woken only for a deadline earlier than all it holds.

Every request arms a deadline of the same length, so a new one is almost never
the earliest: waking the thread for each cost a GIL hand-over per request (some
4% of the suite's GIL-holding time, issue 13). Waits have timeouts; nothing
here is timed.
"""

from __future__ import annotations

import threading

import pytest

from conformance.transport import client


class CountingCondition(threading.Condition):
    notified = 0

    def notify(self, n: int = 1) -> None:
        CountingCondition.notified += 1
        super().notify(n)


def test_only_an_earlier_deadline_wakes_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.threading, "Condition", CountingCondition)
    watchdog = client.Watchdog()
    monkeypatch.undo()
    CountingCondition.notified = 0
    watchdog.arm(60, lambda: None)
    for _ in range(10):
        watchdog.disarm(watchdog.arm(120, lambda: None))
    assert CountingCondition.notified == 1
    fired = threading.Event()
    watchdog.arm(0.05, fired.set)  # earlier than all: wakes the thread, which fires it
    assert CountingCondition.notified == 2
    assert fired.wait(timeout=10)
