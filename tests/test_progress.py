"""Progress on long waits: what the suite awaits, and how long is left, at most once a second.

The registry and the ticker (conformance/transport/waits.py) on a clock the test
moves.
"""

from __future__ import annotations

import itertools
import re

import pytest

from conformance.transport.waits import EVERY_S, LONG_S, Progress, Ticker, Waits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_short_wait_says_nothing() -> None:
    clock = Clock()
    waits = Waits(clock)
    progress = Progress()
    with waits.waiting("the PBX's notifications", 60):
        clock.now += LONG_S - 0.01
        assert progress.line(waits.current(), clock()) is None
    clock.now += 5
    assert waits.current() == []
    assert progress.line(waits.current(), clock()) is None


def test_a_long_wait_counts_down_at_most_once_a_second() -> None:
    clock = Clock()
    waits = Waits(clock)
    progress = Progress()
    lines: list[tuple[float, str]] = []
    with waits.waiting("the PBX's notifications", 10):
        for _ in range(40):  # every quarter of a second, as the ticker looks
            clock.now += 0.25
            line = progress.line(waits.current(), clock())
            if line is not None:
                lines.append((clock.now, line))
    started = 100.0
    assert lines[0] == (
        started + LONG_S,
        f"waiting for the PBX's notifications: {10 - LONG_S:.0f} s left of 10 s",
    )
    times = [t for t, _ in lines]
    assert all(b - a >= EVERY_S for a, b in itertools.pairwise(times))
    left = [int(re.findall(r": (\d+) s left", line)[0]) for _, line in lines]
    assert left == [8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_a_wait_leaves_the_registry_whatever_ends_it() -> None:
    waits = Waits(Clock())
    seen: list[str] = []

    def wait_in_vain() -> None:
        with waits.waiting("an answer", 5):
            seen.extend(w.what for w in waits.current())
            raise TimeoutError

    with pytest.raises(TimeoutError):
        wait_in_vain()
    assert seen == ["an answer"]
    assert waits.current() == []


def test_waits_for_one_thing_are_one_part_and_the_latest_comes_first() -> None:
    clock = Clock()
    waits = Waits(clock)
    with waits.waiting("the PBX's notifications", 60):
        clock.now += 1
        with waits.waiting("an answer to POST http://pbx/call_back", 5):
            clock.now += 1
            with waits.waiting("an answer to POST http://pbx/call_back", 5):
                clock.now += 1
                line = Progress().line(waits.current(), clock())
    # Only waits that have lasted LONG_S are named (not the second answer, 1 s old).
    assert line == (
        "waiting for the PBX's notifications: 57 s left of 60 s; "
        "an answer to POST http://pbx/call_back: 3 s left of 5 s"
    )
    clock.now += 1
    with waits.waiting("x", 5), waits.waiting("x", 6):
        clock.now += LONG_S
        line = Progress().line(waits.current(), clock())
    assert line == "waiting for x (2 at once): 4 s left of 6 s"


def test_the_ticker_writes_and_resumes_once_the_long_waits_are_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Ticker, "TICK_S", 3600.0)  # its thread never ticks: the test does
    clock = Clock()
    waits = Waits(clock)
    written: list[str] = []
    resumed: list[float] = []
    ticker = Ticker(written.append, lambda: resumed.append(clock()), waits)
    ticker.start()
    try:
        with waits.waiting("a quick answer", 5):  # short: no line, nothing to resume
            clock.now += 1
            assert ticker.tick() is None
        assert (written, resumed) == ([], [])
        with waits.waiting("the notifications", 5):
            clock.now += LONG_S
            assert ticker.tick() == written[-1]
            with waits.waiting("an answer", 5):
                clock.now += 0.5
                assert ticker.tick() is None  # not a second since the last line
            assert resumed == []  # a wait ended, but the long one goes on
            clock.now += 0.5
            ticker.tick()
        assert len(written) == 2
        assert resumed == [clock.now]
    finally:
        ticker.stop()
    assert waits.ended is None
