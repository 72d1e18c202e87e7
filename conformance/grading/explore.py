"""Property exploration with Hypothesis, bounded, replayable and parallel.

Hypothesis draws the examples; the suite then sends them. The run's seed makes
the examples the same on every run (printed in the header, recorded in
results.json) and ``--examples`` bounds their number. Nothing is shrunk:
shrinking would re-send to the system under test hundreds of times, and the
failing example is reported exactly as it was sent.

Examples are sent by a few workers at once, as a PBX with several calls in
progress would send them; each example's own requests stay in order. Each is
handed to the workers as soon as it is drawn, so Hypothesis draws the next ones
while the first are in flight (the same examples in the same order: only the
moment each is sent changes).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import strategies as st

from conformance.grading.verdict import RANK, Finding, Verdict
from conformance.spec.generate import values
from conformance.transport.budget import DEADLINE
from conformance.transport.client import Exchange

T = TypeVar("T")
R = TypeVar("R")
WORKERS = 4


_SHARED: dict[tuple[str, int, int], list[Any]] = {}
_SHARED_LOCK = threading.Lock()


def draw(
    strategy: st.SearchStrategy[T],
    *,
    seed_value: int,
    count: int,
    share: str | None = None,
    each: Callable[[T], None] | None = None,
) -> list[T]:
    """Up to ``count`` values of ``strategy``, the same list for the same seed.

    Cases that judge different things about the same kind of input name a
    ``share`` key: the values are drawn once per run and handed to each of
    them, which costs one generation instead of several. ``each`` is called
    with every value, in order, as soon as it is there (``generate.values``).
    """
    key = (share, seed_value, count) if share else None
    if key is not None:
        with _SHARED_LOCK:
            shared = _SHARED.get(key)
        if shared is not None:
            drawn: list[T] = copy.deepcopy(shared)
            if each is not None:
                for value in drawn:
                    each(value)
            return drawn
    kept: list[T] = []

    def keep(value: T) -> None:
        if key is not None:  # copied before ``each`` hands it to a check that may change it
            kept.append(copy.deepcopy(value))
        if each is not None:
            each(value)

    drawn = values(strategy, seed_value=seed_value, count=count, each=keep)
    if key is not None:
        with _SHARED_LOCK:
            _SHARED[key] = kept
    return drawn


def sample(strategy: st.SearchStrategy[T], *, seed_value: int, rounds: int = 5) -> T:
    """One typical value of ``strategy`` (Hypothesis starts with the simplest ones)."""
    return draw(strategy, seed_value=seed_value, count=rounds)[-1]


def explore(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], None],
    *,
    seed_value: int,
    examples: int,
    share: str | None = None,
    prepare: Callable[[T], T] | None = None,
    workers: int = WORKERS,
) -> None:
    """Run ``check`` on ``examples`` drawn values; raise the worst Finding, naming its example.

    ``prepare`` turns each drawn value into what is sent (and reported). An
    example whose check skips (its control was refused: inconclusive) counts
    for nothing; the case skips only when every example did. Once the verdict is
    in -- ``UNANSWERED_IN_A_ROW`` examples failed without an answer -- or the run
    reached ``--max-duration``, the examples not yet begun are not sent (``Stop``).
    """
    if DEADLINE.passed():  # nothing will be sent: not even drawn
        pytest.skip(f"inconclusive: {_unsent([NotSent(DEADLINE.reason())] * examples, examples)}")
    stop = Stop()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        values, pending = _feed(
            pool,
            strategy,
            lambda value: stop.attempt(check, value),
            seed_value=seed_value,
            count=examples,
            share=share,
            prepare=prepare,
        )
        outcomes = [future.result() for future in pending]
    unsent = [o for o in outcomes if isinstance(o, NotSent)]
    skipped = [exc for exc in outcomes if isinstance(exc, pytest.skip.Exception)]
    errors = [
        exc
        for exc in outcomes
        if exc is not None and not isinstance(exc, Finding | pytest.skip.Exception | NotSent)
    ]
    if errors:  # the suite's own fault: the run cannot vouch for the rest
        worst = max(
            (exc for exc in outcomes if isinstance(exc, Finding)),
            key=lambda f: RANK[f.verdict],
            default=None,
        )
        if worst is not None:
            errors[0].add_note(
                f"another example was graded {worst.verdict}: {str(worst).splitlines()[-1]}"
            )
        raise errors[0]
    findings = [(i, exc) for i, exc in enumerate(outcomes) if isinstance(exc, Finding)]
    if not findings:
        if unsent:  # only the deadline stops a case without findings
            pytest.skip(f"inconclusive: {_unsent(unsent, len(values))}")
        if skipped and len(skipped) == len(values):
            raise skipped[0]
        return
    index, worst = max(findings, key=lambda f: (RANK[f[1].verdict], -f[0]))
    if unsent:
        worst.add_note(_unsent(unsent, len(values)))
    worst.add_note(
        f"generated example {index + 1} of {len(values)}, seed {seed_value} "
        f"({len(findings)} of {len(values)} examples had findings; the same examples again: "
        f"--seed {seed_value} with the same --examples):\n"
        f"{_show(values[index])}"
    )
    raise worst


#: Examples in a row that failed for want of an answer, after which the case's verdict
#: is in and the rest are not sent: each would only wait out --sut-timeout again.
UNANSWERED_IN_A_ROW = 3


@dataclass(frozen=True)
class NotSent:
    """An example explore did not send, and why."""

    why: str


class Stop:
    """When a case stops sending its examples: ``UNANSWERED_IN_A_ROW`` in a row failed
    without an answer (a fail the case reports anyway: grading/checks.py
    ``answered_in_time``), or the run reached ``--max-duration``. Thread-safe; the
    examples already in flight finish."""

    def __init__(self, in_a_row: int = UNANSWERED_IN_A_ROW) -> None:
        self.in_a_row = in_a_row
        self.why: str | None = None
        self._streak = 0
        self._lock = threading.Lock()

    def attempt(self, check: Callable[[T], None], value: T) -> BaseException | NotSent | None:
        with self._lock:
            if self.why is None and DEADLINE.passed():
                self.why = DEADLINE.reason()
            if self.why is not None:
                return NotSent(self.why)
        outcome = _attempt(check, value)
        self.ended(outcome)
        return outcome

    def ended(self, outcome: BaseException | None) -> None:
        """Count an example that failed without an answer; any other ends the streak."""
        with self._lock:
            self._streak = self._streak + 1 if _unanswered(outcome) else 0
            if self._streak >= self.in_a_row and self.why is None:
                self.why = (
                    f"the target did not answer {self.in_a_row} in a row within --sut-timeout"
                )


def _unanswered(outcome: BaseException | None) -> bool:
    """A fail resting on a request that got no answer."""
    return (
        isinstance(outcome, Finding)
        and outcome.verdict is Verdict.FAIL
        and any(isinstance(ex, Exchange) and not ex.answered for ex in outcome.evidence)
    )


def _unsent(unsent: list[NotSent], total: int) -> str:
    return f"{len(unsent)} of {total} examples not sent: {unsent[0].why}"


def _feed(
    pool: ThreadPoolExecutor,
    strategy: st.SearchStrategy[T],
    attempt: Callable[[T], R],
    *,
    seed_value: int,
    count: int,
    share: str | None,
    prepare: Callable[[T], T] | None,
) -> tuple[list[T], list[Future[R]]]:
    """Draw the examples and submit ``attempt`` of each to ``pool`` the moment it is drawn.

    Returns the examples as sent (after ``prepare``) and their futures, in the
    order drawn.
    """
    sent: list[T] = []
    pending: list[Future[R]] = []

    def submit(value: T) -> None:
        ready = prepare(value) if prepare is not None else value
        sent.append(ready)
        pending.append(pool.submit(attempt, ready))

    draw(strategy, seed_value=seed_value, count=count, share=share, each=submit)
    return sent, pending


def _attempt(check: Callable[[T], None], value: T) -> BaseException | None:
    try:
        check(value)
    except (Exception, pytest.skip.Exception) as exc:  # noqa: BLE001 - explore raises it
        return exc
    return None


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)
