"""A bounded, thread-safe record of the requests a server of the suite received.

Both of the suite's servers keep one: the listener (a PBX's notifications) and
the PBX API it serves a CRM (role crm-client). Servers ``add`` from their own
threads; cases read a ``snapshot`` or ``wait`` until what they need arrived.
At most ``limit`` requests are kept; later ones are counted and dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self, limit: int, check: Callable[[], None] = lambda: None) -> None:
        self.limit = limit
        self._check = check
        self._changed = threading.Condition()
        self.items: list[T] = []
        #: Every request added, kept or not (results.json ``requests``).
        self.count = 0

    def add(self, item: T) -> None:
        with self._changed:
            self.count += 1
            if len(self.items) < self.limit:
                self.items.append(item)
            self._changed.notify_all()

    def wake(self) -> None:
        """Let waiters look again (``check`` may have something to say)."""
        with self._changed:
            self._changed.notify_all()

    def snapshot(self) -> list[T]:
        self._check()
        with self._changed:
            return list(self.items)

    def wait(self, done: Callable[[list[T]], bool], timeout: float) -> list[T]:
        """Everything received once ``done(received)`` holds, or when ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                self._check()
                left = deadline - time.monotonic()
                if done(self.items) or left <= 0:
                    return list(self.items)
                self._changed.wait(left)
