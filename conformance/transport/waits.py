"""What the suite is waiting for right now, and the progress line that says so.

Wherever the suite blocks on the network or on a command for possibly long --
a PBX's notifications (``--events-timeout``), a CRM's requests or its command
(``--client-timeout``), a request in flight (``--sut-timeout``) -- it says so
with ``with waiting(what, timeout):``. Entering and leaving is a lock and a dict
operation, from any thread. ``Progress`` turns the current waits into a line:
only once one has lasted ``LONG_S``, at most one line a second. The session's
``Ticker`` hands it to pytest's terminal (run.py, not under -q); ``what`` names
URLs and counts, never a secret (D53).

A ticker writes holding ``Waits.lock``, and a wait leaves the registry taking
it: no line about a wait is written once that wait has ended, so the line never
lands in the middle of what the waiting thread writes next. That holds for waits
on a case's thread or on threads it joins (every wait today); a wait registered on
a server's own thread, which goes on while the case writes, would not have it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

#: A wait is shown once it has lasted this long (seconds); shorter ones never are.
LONG_S = 2.0
#: At most one line per this many seconds.
EVERY_S = 1.0


@dataclass(frozen=True)
class Wait:
    what: str  # "for <what>": URLs and counts only
    started: float  # the registry's clock
    deadline: float

    def left(self, now: float) -> int:
        """Whole seconds left, rounded up (0 once the deadline passed)."""
        return max(0, math.ceil(self.deadline - now - 1e-9))


class Waits:
    """The waits in progress, thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        #: Held while a line about the waits is written; a wait ends only outside it.
        self.lock = threading.RLock()
        self._current: dict[int, Wait] = {}
        self._serial = itertools.count()
        #: Called holding ``lock`` each time a wait ends (the ticker's).
        self.ended: Callable[[], None] | None = None

    @contextmanager
    def waiting(self, what: str, timeout: float) -> Iterator[Wait]:
        """Register a wait for ``what`` of at most ``timeout`` seconds for the block."""
        now = self.clock()
        wait = Wait(what, now, now + max(0.0, timeout))
        with self.lock:
            ticket = next(self._serial)
            self._current[ticket] = wait
        try:
            yield wait
        finally:
            with self.lock:
                del self._current[ticket]
                if self.ended is not None:
                    self.ended()

    def current(self) -> list[Wait]:
        with self.lock:
            return list(self._current.values())


#: The process's waits: what the suite's code registers, and the plugin's ticker reads.
WAITS = Waits()


def waiting(what: str, timeout: float) -> AbstractContextManager[Wait]:
    """``with waiting("the PBX's notifications ...", 60):`` -- on the process's registry."""
    return WAITS.waiting(what, timeout)


class Progress:
    """Which line to write at ``now``, if any: one naming every wait that has lasted
    ``long`` seconds and how long each has left, at most one per ``every`` seconds."""

    def __init__(self, long: float = LONG_S, every: float = EVERY_S) -> None:
        self.long = long
        self.every = every
        self._last: float | None = None

    def shown(self, waits: list[Wait], now: float) -> list[Wait]:
        """The waits that have lasted long enough to be shown."""
        return [w for w in waits if now - w.started >= self.long]

    def line(self, waits: list[Wait], now: float) -> str | None:
        shown = self.shown(waits, now)
        if not shown or (self._last is not None and now - self._last < self.every):
            return None
        self._last = now
        return describe(shown, now)


def describe(waits: list[Wait], now: float) -> str:
    """``waiting for X: 7 s left of 10 s; Y (4 at once): 1 s left of 5 s``, soonest last.

    Waits for the same thing (requests in flight on several workers) are one part,
    with the time left of the latest.
    """
    groups: dict[str, list[Wait]] = {}
    for wait in sorted(waits, key=lambda w: w.started):
        groups.setdefault(wait.what, []).append(wait)
    parts = []
    for what, same in sorted(groups.items(), key=lambda g: -max(w.deadline for w in g[1])):
        last = max(same, key=lambda w: w.deadline)
        many = f" ({len(same)} at once)" if len(same) > 1 else ""
        total = last.deadline - last.started
        parts.append(f"{what}{many}: {last.left(now)} s left of {total:.0f} s")
    return "waiting for " + "; ".join(parts)


class Ticker:
    """A thread that looks at ``waits`` every ``TICK_S`` seconds and hands ``write`` the
    progress line when one is due (``Progress``); once the waits it spoke of are over
    (none left that is long), ``resume`` is called, from the thread whose wait ended.
    Both run holding ``waits.lock``: they should write and return."""

    #: How often the waits are looked at; the lines themselves are at most one a second.
    TICK_S = 0.25

    def __init__(
        self,
        write: Callable[[str], None],
        resume: Callable[[], None] = lambda: None,
        waits: Waits = WAITS,
    ) -> None:
        self.write = write
        self.resume = resume
        self.waits = waits
        self.progress = Progress()
        self._spoke = False  # a line was written, and resume not yet called
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vats-progress", daemon=True)

    def start(self) -> None:
        self.waits.ended = self._ended
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.waits.lock:
            if self.waits.ended == self._ended:
                self.waits.ended = None
        if self._thread.is_alive():
            self._thread.join(2 * self.TICK_S)

    def tick(self) -> str | None:
        """Write the line due now, if one is; returns it."""
        with self.waits.lock:
            line = self.progress.line(self.waits.current(), self.waits.clock())
            if line is not None:
                self.write(line)
                self._spoke = True
        return line

    def _ended(self) -> None:
        now = self.waits.clock()
        if self._spoke and not self.progress.shown(self.waits.current(), now):
            self._spoke = False
            # A progress line must never change a verdict: whatever the terminal does
            # (it went away, pytest's internals moved), the wait ends as it would have.
            with contextlib.suppress(Exception):
                self.resume()

    def _run(self) -> None:
        while not self._stop.wait(self.TICK_S):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the terminal went away, or pytest changed: no more lines
                return
