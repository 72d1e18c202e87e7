"""A run ends whatever the target does (issue 13, "A bounded run"; D56-D58).

Per case, a generated case stops sending once its verdict is in (``explore.Stop``);
per target, a kind of notification a CRM demonstrably does not answer in time is
not waited for again (``Unanswered``); per run, ``--max-duration`` (``DEADLINE``)
and one ``--events-timeout`` for every wait on a PBX's notifications
(``EventsBudget``). The runs here are the faults of the issue, scaled down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import strategies as st

from conformance.grading import checks
from conformance.grading.explore import UNANSWERED_IN_A_ROW, explore
from conformance.grading.verdict import Finding, Verdict
from conformance.transport.budget import DEADLINE, IN_A_ROW, Deadline, Unanswered
from conformance.transport.client import Exchange

# -- per target: what a CRM does not answer --------------------------------------


def _exchange(status: int | None, elapsed_ms: float) -> Exchange:
    ex = Exchange("POST", "http://127.0.0.1:9/call_events", [], b"{}")
    ex.status, ex.elapsed_ms = status, elapsed_ms
    if status is None:
        ex.error = "no answer within 1 s (--sut-timeout)"
    return ex


def test_a_kind_unanswered_in_a_row_is_known_and_an_answer_starts_the_count_again() -> None:
    record = Unanswered(timeout=1.0)
    for _ in range(IN_A_ROW - 1):
        record.record("disconnected", _exchange(None, 1000.0))
    record.record("disconnected", _exchange(200, 3.0))  # answered: the count starts again
    for _ in range(IN_A_ROW - 1):
        record.record("disconnected", _exchange(None, 1000.0))
    assert record.silent("disconnected") is None
    last = _exchange(None, 1000.0)
    record.record("disconnected", last)
    evidence = record.silent("disconnected")
    assert evidence is not None
    assert len(evidence) == IN_A_ROW
    assert evidence[-1] is last
    assert record.silent("new") is None


def test_a_refused_connection_is_no_wait_and_proves_nothing() -> None:
    record = Unanswered(timeout=1.0)
    for _ in range(IN_A_ROW + 2):
        record.record("new", _exchange(None, 2.0))  # refused at once: nothing was waited for
    assert record.silent("new") is None


# -- per case: a generated case stops once its verdict is in -----------------------


def _no_answer(sent: list[int]) -> Callable[[int], None]:
    lock = threading.Lock()

    def check(value: int) -> None:
        with lock:
            sent.append(value)
        checks.answered_in_time(_exchange(None, 1000.0))

    return check


@pytest.mark.parametrize("workers", [1, 4])
def test_a_generated_case_stops_after_examples_that_got_no_answer(workers: int) -> None:
    sent: list[int] = []
    with pytest.raises(Finding) as raised:
        explore(st.integers(), _no_answer(sent), seed_value=0, examples=20, workers=workers)
    # The examples already in flight finish; none is begun after the streak.
    assert UNANSWERED_IN_A_ROW <= len(sent) <= UNANSWERED_IN_A_ROW + workers - 1
    assert raised.value.verdict is Verdict.FAIL
    notes = "\n".join(raised.value.__notes__)
    assert (
        f"{20 - len(sent)} of 20 examples not sent: the target did not answer "
        f"{UNANSWERED_IN_A_ROW} in a row within --sut-timeout"
    ) in notes


def test_answers_between_failures_keep_a_case_sending() -> None:
    sent: list[int] = []

    def check(value: int) -> None:
        sent.append(value)
        if len(sent) % UNANSWERED_IN_A_ROW:  # every third example is answered
            checks.answered_in_time(_exchange(None, 1000.0))

    with pytest.raises(Finding) as raised:
        explore(st.integers(), check, seed_value=0, examples=12, workers=1)
    assert len(sent) == 12
    assert "not sent" not in "\n".join(raised.value.__notes__)


@pytest.fixture
def deadline_passed() -> Iterator[None]:
    DEADLINE.start(0.0)
    try:
        yield
    finally:
        DEADLINE.clear()


def test_a_generated_case_at_the_deadline_sends_no_further_example(deadline_passed: None) -> None:
    sent: list[int] = []
    with pytest.raises(pytest.skip.Exception, match=r"--max-duration \(0 s\)"):
        explore(st.integers(), sent.append, seed_value=0, examples=5, workers=1)
    assert sent == []


def test_the_deadline_cuts_a_wait() -> None:
    clock = [100.0]
    deadline = Deadline(clock=lambda: clock[0])
    assert deadline.cap(60.0) == 60.0
    assert not deadline.passed()
    deadline.start(900.0)
    clock[0] += 880.0
    assert deadline.cap(60.0) == pytest.approx(20.0)
    clock[0] += 20.0
    assert deadline.passed()
    assert deadline.cap(60.0) == 0.0
    assert deadline.reason() == "the run reached --max-duration (900 s)"
