"""How long the suite may still wait: the run's deadline, and what a target does not answer.

A run ends whatever the target does (issue 13, D56-D58):

* ``DEADLINE`` is the run's ``--max-duration``: once it has passed, cases not yet
  begun skip naming it, a generated case sends no further example, and every long
  wait (a PBX's notifications, a CRM's requests or its command) is cut there
  (``Deadline.cap``). A request in flight keeps its own ``--sut-timeout``: cutting
  it would turn the deadline into a missing answer, a fail.
* ``Unanswered`` is a per-target record of the kinds of request a target lets time
  out: once it did ``IN_A_ROW`` times in a row, it demonstrably does not answer that
  kind within the timeout, and a case that would only wait again need not.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from conformance.transport.client import Exchange

#: Requests of one kind that went unanswered for the whole timeout, one after another,
#: before a target counts as not answering that kind (a passing hiccup is one or two).
IN_A_ROW = 3


class Deadline:
    """A point on the monotonic clock after which the run waits no more; none by default."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.at = math.inf
        #: The option's value, for messages (``--max-duration 900``).
        self.seconds: float | None = None

    def start(self, seconds: float, *, began: float | None = None) -> None:
        """The deadline is ``seconds`` after ``began`` (the clock's reading; default now)."""
        self.seconds = seconds
        self.at = (self.clock() if began is None else began) + seconds

    def clear(self) -> None:
        self.at, self.seconds = math.inf, None

    def left(self) -> float:
        """Seconds left (``inf`` without a deadline, 0 once it passed)."""
        return max(0.0, self.at - self.clock())

    def passed(self) -> bool:
        return self.clock() >= self.at

    def cap(self, timeout: float) -> float:
        """``timeout``, shortened to end at the deadline."""
        return min(timeout, self.left())

    def reason(self) -> str:
        return f"the run reached --max-duration ({self.seconds:g} s)"


#: The process's run deadline (plugin.py starts it from ``--max-duration``).
DEADLINE = Deadline()


def timed_out(ex: Exchange, timeout: float) -> bool:
    """No answer, after the whole ``timeout`` was waited for (not a refused connection)."""
    return ex.status is None and ex.elapsed_ms >= timeout * 1000 * 0.99


class Unanswered:
    """The kinds of request one target let time out, ``IN_A_ROW`` times in a row; thread-safe.

    A kind is what the caller says it is (a CRM's notifications by their state); an
    answer of that kind starts the count again. Once demonstrated it stays: the
    exchanges are the evidence a later case cites instead of waiting again.
    """

    def __init__(self, timeout: float, in_a_row: int = IN_A_ROW) -> None:
        self.timeout = timeout
        self.in_a_row = in_a_row
        self._lock = threading.Lock()
        self._streak: dict[str, list[Exchange]] = {}
        self._silent: dict[str, list[Exchange]] = {}

    def record(self, kind: str, ex: Exchange) -> None:
        with self._lock:
            if kind in self._silent:
                return
            if not timed_out(ex, self.timeout):
                self._streak.pop(kind, None)
                return
            streak = self._streak.setdefault(kind, [])
            streak.append(ex)
            if len(streak) >= self.in_a_row:
                self._silent[kind] = self._streak.pop(kind)

    def silent(self, kind: str) -> list[Exchange] | None:
        """The exchanges showing that ``kind`` goes unanswered, or None while it may not."""
        with self._lock:
            evidence = self._silent.get(kind)
            return list(evidence) if evidence is not None else None
