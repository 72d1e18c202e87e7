"""A run ends whatever the target does (issue 13, "A bounded run"; D56-D58).

Per case, a generated case stops sending once its verdict is in (``explore.Stop``);
per target, a kind of notification a CRM demonstrably does not answer in time is
not waited for again (``Unanswered``); per run, ``--max-duration`` (``DEADLINE``)
and one ``--events-timeout`` for every wait on a PBX's notifications
(``EventsBudget``). The runs here are the faults of the issue, scaled down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import strategies as st

from conformance.grading import checks
from conformance.grading.explore import UNANSWERED_IN_A_ROW, explore
from conformance.grading.verdict import Finding, Verdict
from conformance.reference.crm import ReferenceCrm
from conformance.sut.calls import EventsBudget
from conformance.transport.budget import DEADLINE, IN_A_ROW, Deadline, Unanswered
from conformance.transport.client import Exchange
from conformance.transport.listener import Received
from tests.faults.crm import SlowOnDisconnected
from tests.faults.pbx import FAULTS
from tests.support import (
    CLIENT_ID,
    CLIENT_KEY,
    crm_args,
    oracle,
    pbx_args,
    run_suite,
    serving,
)
from tests.test_pbx_faults import serving_pbx

if TYPE_CHECKING:
    from pathlib import Path

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


# -- per run: one --events-timeout for every wait on a PBX's notifications ---------


class SilentListener:
    """A PBX that never ends a call: every wait lasts its whole timeout (recorded)."""

    url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def wait(self, done: Callable[[list[Received]], bool], timeout: float) -> list[Received]:
        self.timeouts.append(timeout)
        time.sleep(timeout)
        return []


def test_waits_on_notifications_share_one_events_timeout() -> None:
    listener = SilentListener()
    budget = EventsBudget(0.2)
    never: Callable[[list[Received]], bool] = lambda received: False  # noqa: E731
    assert not budget.wait(listener, never, "the first call")  # type: ignore[arg-type]
    assert not budget.wait(listener, never, "the second call")  # type: ignore[arg-type]
    assert listener.timeouts[0] == pytest.approx(0.2)
    assert listener.timeouts[1] == 0.0  # spent in vain: the next wait returns at once
    assert budget.left() == 0.0


def test_a_wait_that_ends_in_time_spends_nothing() -> None:
    budget = EventsBudget(5.0)

    class Prompt(SilentListener):
        def wait(self, done: Callable[[list[Received]], bool], timeout: float) -> list[Received]:
            self.timeouts.append(timeout)
            return []

    listener = Prompt()
    for _ in range(3):
        assert budget.wait(listener, lambda received: True, "a call")  # type: ignore[arg-type]
    assert listener.timeouts == [5.0, 5.0, 5.0]


# -- the targets, scaled down: 12 s against --sut-timeout 5 becomes 2.4 against 1 --

#: Seconds the CRM takes over a disconnected, and the suite's timeout: the issue's shape.
SLOW_S, SUT_TIMEOUT = 2.4, 1.0
#: Ample for the run, far below what waiting on every slow answer took (over 80 s here).
MAX_DURATION = 90.0


def test_a_crm_slow_on_every_disconnected_fails_the_timing_case_and_ends_soon(
    tmp_path: Path,
) -> None:
    app = SlowOnDisconnected.scaled(SLOW_S)(CLIENT_ID, CLIENT_KEY, oracle=True)
    with serving(app) as url:
        run = run_suite(
            crm_args(
                url,
                *oracle(url),
                *("--sut-timeout", str(SUT_TIMEOUT), "--max-duration", str(MAX_DURATION)),
            ),
            tmp_path / "report",
            paths=("conformance/roles/crm_webhook",),
            timeout=300,
        )
    doc = run.results
    # The run ended on its own, well within the option (before: one wait per slow answer).
    assert doc["max_duration"] == {"seconds": MAX_DURATION, "skipped": 0}
    assert doc["duration_s"] < MAX_DURATION / 3, run.stdout
    verdicts = run.verdicts()
    assert verdicts["crm.timing.latency"] == "fail", run.stdout
    # The cases that judge answer time fail; no other case fails for the timeouts.
    assert run.with_verdict("fail") <= {"crm.timing.latency", "crm.timing.burst"}, run.stdout
    assert not run.with_verdict("error"), run.stdout
    skipped = {c["id"]: c["detail"] for c in doc["cases"] if c["verdict"] == "skip"}
    assert "crm.lifecycle.duplicate" in skipped
    assert "crm.timing.latency fails for it" in skipped["crm.lifecycle.duplicate"]
    assert run.returncode == 1


def test_without_the_timing_case_the_cases_are_sent_and_fail(tmp_path: Path) -> None:
    """The skip for a state the CRM leaves unanswered names crm.timing.latency as the case
    that fails for it; deselected (-k "not timing", here -k lifecycle), nothing failed:
    a CRM that never answers a disconnected in time passed the run (-k lifecycle: 18
    skips, exit 0). Without that case each case is judged on its own answer, as before."""
    app = SlowOnDisconnected.scaled(SLOW_S)(CLIENT_ID, CLIENT_KEY, oracle=True)
    with serving(app) as url:
        run = run_suite(
            crm_args(url, *oracle(url), "--sut-timeout", str(SUT_TIMEOUT), "-k", "lifecycle"),
            tmp_path / "report",
            paths=("conformance/roles/crm_webhook",),
            timeout=300,
        )
    assert "crm.timing.latency" not in run.verdicts()
    assert "crm.lifecycle.duplicate" in run.with_verdict("fail"), run.stdout
    skipped = [c["detail"] for c in run.results["cases"] if c["verdict"] == "skip"]
    assert not [d for d in skipped if "crm.timing.latency fails for it" in d], skipped
    assert not run.with_verdict("error"), run.stdout
    assert run.returncode == 1, run.stdout


#: One wait for a call that never ends: long enough to tell one wait from two or three.
EVENTS_TIMEOUT = 6.0


def test_a_pbx_that_never_sends_disconnected_costs_one_events_timeout(tmp_path: Path) -> None:
    with serving_pbx(FAULTS["no-disconnected"]) as (url, listen):
        run = run_suite(
            [
                # Both --from-pin and --from-sipuri (PARTIES): two calls could be waited on.
                *pbx_args(url, listen, "--max-duration", str(MAX_DURATION)),
                *("--events-timeout", str(EVENTS_TIMEOUT)),
            ],
            tmp_path / "report",
            paths=("conformance/roles/pbx_events",),
            timeout=300,
        )
    doc = run.results
    assert doc["max_duration"] == {"seconds": MAX_DURATION, "skipped": 0}
    # Start-up and the cases take a few seconds; a second wait would take another six.
    assert doc["duration_s"] < 2 * EVENTS_TIMEOUT, run.stdout
    assert run.with_verdict("fail") == {"events.arrival"}, run.stdout
    assert not run.with_verdict("error"), run.stdout


# -- --max-duration -----------------------------------------------------------------


#: A run cut short: cases begin well before it (start-up takes a second or two, more on
#: a busy machine), and the examples below make the whole role last several times longer.
SHORT_RUN = ("--max-duration", "8", "--examples", "300")


def test_cases_after_max_duration_skip_naming_it(tmp_path: Path) -> None:
    """The cases not begun by the deadline skip, and the summary counts them."""
    app = ReferenceCrm(CLIENT_ID, CLIENT_KEY, oracle=True)
    with serving(app) as url:
        run = run_suite(
            [*crm_args(url, *oracle(url)), *SHORT_RUN],
            tmp_path / "report",
            paths=("conformance/roles/crm_webhook",),
        )
    doc = run.results
    over = [
        c
        for c in doc["cases"]
        if c["verdict"] == "skip" and "the run reached --max-duration (8 s)" in c["detail"]
    ]
    assert over, run.stdout
    assert run.with_verdict("pass"), run.stdout  # the run began before the deadline
    assert doc["max_duration"] == {"seconds": 8.0, "skipped": len(over)}
    assert f"--max-duration 8 s reached: {len(over)} case(s) skipped for it" in run.stdout
    assert not run.with_verdict("fail"), run.stdout
    assert not run.with_verdict("error"), run.stdout
    # Not 0: cases that never ran must not let a CI gate pass; 2, as an interrupted run.
    assert run.returncode == 2, run.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--max-duration", "0"], {}, "--max-duration: expected a value from 1 to 86400, got '0'"),
        ([], {"VATS_MAX_DURATION": "soon"}, "VATS_MAX_DURATION: expected a number, got 'soon'"),
    ],
)
def test_a_bad_max_duration_is_one_error_line(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    run = run_suite(args, tmp_path / "report", env=env)
    assert run.returncode == 4
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert errors == [f"ERROR: {message}"], run.stderr
    assert not (tmp_path / "report" / "results.json").exists()
