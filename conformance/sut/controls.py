"""Controls for the CRM-webhook role: what this CRM demonstrably accepts, established first.

(Over 400 lines: one class, whose steps share the run's state and run in the order below.)

h2spec opens every case with a handshake, so that a failure is about the fault
and not about something earlier. Before the first case the suite establishes,
once per run (``CrmControls.establish``; DECISIONS D32-D35):

* **the baseline** -- the simplest notification this CRM accepts: a ``new`` of
  a fresh call, in the first reading (E4 timestamp, pins) and JSON spelling it
  takes. Cases about signatures, headers, timing and lifecycle build on it,
  never on a shape that only the content cases test;
* **the oracle** -- how the suite tells whether the CRM *processed* a request it
  should have refused: ``--crm-oracle`` (checked at start: a bad oracle is a
  usage error), else the CRM's own lifecycle when it refuses notifications of
  calls it never saw (then a correctly signed ``disconnected`` of the call is
  accepted exactly when it holds the call), else none;
* **the readings** of the pins and of ``is_record`` (grading/readings.py).

A refusal case then sends its one fault on a fresh copy of the baseline, asks
the oracle, and sends the control: the same notification, correctly signed, on
another fresh call (``judge_refusal``). A refused control makes the case
inconclusive (``skip``); a target that stops answering after the fault fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from _pytest.outcomes import Skipped  # pytest.skip.Exception, as a base class

from conformance.grading import readings
from conformance.grading.readings import Reading
from conformance.grading.refusals import RefusalKind, grade_refusal
from conformance.grading.verdict import Finding, Verdict, fail, finding
from conformance.settings import Settings
from conformance.sut.drivers import CrmWebhook, Target
from conformance.sut.notifications import (
    Baseline,
    ending,
    new_notification,
    ok,
    retried,
    twin,
)
from conformance.sut.oracles import HttpOracle, LifecycleOracle, Oracle
from conformance.transport.budget import Unanswered
from conformance.transport.client import Client, Exchange

#: The spelling every case uses unless it is about spelling: Python's spacing, as the
#: guide's 1.4.2 vector (a space after the colon), raw UTF-8.
DEFAULT_SPELLING = "raw-utf8"
#: Spellings tried when the default one is refused in every reading: the body
#: written as a re-serialising receiver would write it (D32).
OTHER_SPELLINGS = ("compact", "escaped-everything")

#: At least this long without an answer to the baseline, after a valid notification
#: crashed, before the CRM counts as stopped (``CrmControls.on_crash``).
STOPPED_AFTER_S = 2.0
#: Accepted calls the start-up check asks --crm-oracle about, to learn its delay.
SETTLE_SAMPLES = 3
#: Pauses before sending a control again after a 5xx or no answer (start-up only).
RETRY_PAUSES = (0.5, 1.0, 2.0)



@dataclass
class Probe:
    """The exchanges and notes of one control, for the case that reports it."""

    exchanges: list[Exchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class CrmControls:
    """Baseline, oracle and readings of one CRM, established once per run."""

    def __init__(
        self, client: Client, target: Target, settings: Settings, oracle: str | None = None
    ) -> None:
        self.client = client
        self.target = target
        self.settings = settings
        #: The oracle's URL template: ``--crm-oracle``, or the embedded reference's.
        self.oracle_template = oracle
        self.baseline: Baseline | None = None
        #: Why no baseline could be established (crm.sign.valid's finding).
        self.problem: Finding | None = None
        #: Set when the baseline was accepted only in another spelling.
        self.spelling_problem: Finding | None = None
        self.oracle: Oracle | None = None
        self.readings: dict[str, Reading] = {}
        self.probes: dict[str, Probe] = {}
        self.refuses_lone = False
        #: The fault after which the CRM stopped answering, once one case showed it:
        #: later cases are inconclusive, not failed for it again.
        self.stopped: str | None = None
        #: The states whose notifications this CRM lets time out, IN_A_ROW in a row (D57).
        self.unanswered = Unanswered(settings.sut_timeout)
        #: Whether JUDGE_OF_TIME is among the run's cases (run.launch says): without it,
        #: every case sends and is judged on its own answer, as before D57 -- skipping
        #: would leave nothing in the run to fail for what the CRM leaves unanswered.
        self.judged = True
        self._lock = threading.Lock()
        self._local = threading.local()  # per thread: a refusal case judging liveness itself
        self._done = False

    # -- establishing ----------------------------------------------------------
    def driver(self, probe: str) -> CrmWebhook:
        p = self.probes.setdefault(probe, Probe())
        crm = CrmWebhook(self.client, self.target, self.settings, p.exchanges, p.notes)
        return crm.watch(self.unanswered)

    def establish(self) -> None:
        """Baseline, then the oracle, then the readings; once, whoever asks first.

        Raises ``pytest.UsageError`` when ``--crm-oracle`` does not tell an accepted
        call from an unknown one.
        """
        with self._lock:
            if self._done:
                return
            self._done = True
            self._baseline()
            if self.baseline is None:
                return
            self._oracle()
            self._readings()

    def _baseline(self) -> None:
        profile = self.settings.profile
        stamps = readings.preferred("timestamp", profile)
        candidates: list[tuple[str, str, str | None, str]] = [
            ("incoming", ts, None, DEFAULT_SPELLING) for ts in stamps
        ]
        candidates += [
            ("internal", stamps[0], pins, DEFAULT_SPELLING)
            for pins in readings.preferred("pins", profile)
        ]
        candidates += [("incoming", stamps[0], None, s) for s in OTHER_SPELLINGS]
        crm = self.driver("baseline")
        refused: list[Exchange] = []
        for shape, ts, pins, spelling in candidates:
            doc, ex = self._try(crm, new_notification(shape, ts, pins), spelling)
            if ok(ex):
                self.baseline = Baseline(doc, shape, ts, pins, spelling)
                break
            refused.append(ex)
            crm.note(f"not accepted: {shape} new, timestamp {ts}, pins {pins}, {spelling}")
            if ex.status is None:
                break  # still no answer after the retries: further shapes cannot help
        if self.baseline is None:
            answered = [ex for ex in refused if ex.status is not None]
            self.problem = fail(
                "a correctly signed new of a fresh call accepted, in some reading of the guide "
                "(1.4.2, А.2)",
                (
                    f"none of {len(refused)} accepted; the last: {refused[-1].summary()}"
                    if answered
                    else f"no answer: {refused[-1].summary()} (is the CRM at {crm.url}?)"
                ),
                *refused,
            )
            return
        if self.baseline.spelling != DEFAULT_SPELLING:
            # Was the guide's spacing refused for good, or by a passing fault? Once more.
            first = candidates[0]
            doc, again = self._try(crm, new_notification(*first[:3]), DEFAULT_SPELLING)
            if ok(again):
                self.baseline = Baseline(doc, *first)
            else:
                self.spelling_problem = fail(
                    "a correctly signed notification accepted in the spelling it was signed in",
                    f"refused in the guide's spacing ({again.summary()}), accepted written "
                    f"{self.baseline.spelling}: the signature must cover the bytes as received "
                    "(1.4.2), not a re-serialisation",
                    again,
                )
        b = self.baseline
        crm.note(
            f"baseline: new of an {b.shape} call, timestamp {b.timestamp}"
            + (f", pins {b.pins}" if b.pins else "")
            + f", spelling {b.spelling}"
        )

    @staticmethod
    def _try(
        crm: CrmWebhook, doc: dict[str, Any], spelling: str
    ) -> tuple[dict[str, Any], Exchange]:
        """``doc`` sent; again on another fresh call after a 5xx or no answer (``retried``)."""

        def attempt(n: int) -> tuple[dict[str, Any], Exchange]:
            sent = doc if n == 0 else twin(doc)
            return sent, crm.notify(sent, spelling, announce=False)

        return retried(attempt, RETRY_PAUSES)

    def _oracle(self) -> None:
        assert self.baseline is not None
        crm = self.driver("baseline")
        lone = ending(twin(self.baseline.doc))
        first = crm.notify(lone, self.spelling, announce=False, expect=None)
        #: It refuses a later state of a call it never saw (its reading of E12).
        self.refuses_lone = first.status is not None and 400 <= first.status < 500
        if self.oracle_template:
            oracle = HttpOracle(self.oracle_template)
            budget = self.settings.sut_timeout
            known, ex_known = oracle.measure(crm, self.baseline.doc, budget)
            for _ in range(SETTLE_SAMPLES - 1):  # a queue's delay varies: the longest of a few
                call = twin(self.baseline.doc)
                if ok(crm.notify(call, self.spelling, announce=False)):
                    oracle.measure(crm, call, budget)
            unknown, ex_unknown = oracle.held(crm, twin(self.baseline.doc))
            if known is not True or unknown is not False:
                raise pytest.UsageError(
                    "--crm-oracle: it does not tell a call the CRM accepted from one it never "
                    f"saw: GET {ex_known.url} (accepted) answered {_short(ex_known)}, "
                    f"GET {ex_unknown.url} (never sent) answered {_short(ex_unknown)}; "
                    "expected a 2xx, then a 404"
                )
            self.oracle = oracle
            crm.note(
                "oracle: --crm-oracle, checked with an accepted call and an unknown one"
                + (
                    f"; it shows a call after {oracle.settle:.2f} s at most"
                    if oracle.settle
                    else ""
                )
            )
            return
        if not self.refuses_lone:
            crm.note("oracle: none (a disconnected of a call the CRM never saw is not refused)")
            return
        call = twin(self.baseline.doc)
        opened = crm.notify(call, self.spelling, announce=False)
        closed = crm.notify(ending(call), self.spelling, announce=False)
        if ok(opened) and ok(closed):
            self.oracle = LifecycleOracle()
            crm.note(
                "oracle: the CRM's lifecycle (it refuses a disconnected of a call it never saw, "
                f"{first.summary()}, and accepts one of a call it holds)"
            )
        else:
            crm.note("oracle: none (a disconnected after its new was not accepted either)")

    def _readings(self) -> None:
        assert self.baseline is not None
        profile = self.settings.profile
        # timestamp: the baseline's search tried some; the rest are probed for the record
        ts = Reading("timestamp", readings.preferred("timestamp", profile))
        crm = self.driver("timestamp")
        for reading in ts.tried:
            ts.record(
                reading,
                self._try(crm, new_notification("incoming", reading, None), self.spelling)[1],
            )
        if self.baseline.shape != "incoming":  # only another shape was accepted
            ts.inconclusive = "no incoming new was accepted in any reading (crm.sign.valid)"
        ts.used = self.baseline.timestamp
        ts.exchanges = self.probes["timestamp"].exchanges
        self.readings["timestamp"] = ts

        pins = Reading("pins", readings.preferred("pins", profile))
        crm = self.driver("pins")
        stamp = self.baseline.timestamp
        _, control = self._try(crm, new_notification("internal", stamp, None), self.spelling)
        for reading in pins.tried:
            _, ex = self._try(crm, new_notification("internal", stamp, reading), self.spelling)
            pins.record(reading, ex)
        if not ok(control):
            pins.inconclusive = f"an internal new without pins was refused: {control.summary()}"
            pins.used = pins.used or pins.tried[0]
        pins.exchanges = self.probes["pins"].exchanges
        self.readings["pins"] = pins

        flag = Reading("is_record", readings.preferred("is_record", profile))
        crm = self.driver("is_record")
        control = self._missed_call(crm)
        for reading in flag.tried:
            if self.unanswered.silent("disconnected") is not None:
                break  # each further probe would only wait out --sut-timeout again
            value = readings.is_record(True, reading)
            flag.record(reading, self._missed_call(crm, is_record=value))
        if not ok(control):
            flag.inconclusive = f"a disconnected without is_record was refused: {control.summary()}"
            flag.used = flag.used or flag.tried[0]
        flag.exchanges = self.probes["is_record"].exchanges
        self.readings["is_record"] = flag

    def _missed_call(self, crm: CrmWebhook, **extra: Any) -> Exchange:
        """A fresh call's new, then its disconnected with ``extra``; the disconnected's
        answer. Once more on another call after a 5xx or no answer (``retried``)."""
        baseline = self.require()

        def attempt(_: int) -> tuple[None, Exchange]:
            if silent := self.unanswered.silent("disconnected"):
                return None, silent[-1]  # not sent again: it would only time out again
            call = baseline.fresh()
            crm.notify(call, self.spelling, announce=False)
            end = ending(call, disconnect_reason="Отбой вызывающего абонента", **extra)
            return None, crm.notify(end, self.spelling, announce=False)

        return retried(attempt, RETRY_PAUSES[:1])[1]

    # -- using -----------------------------------------------------------------
    @property
    def spelling(self) -> str:
        return self.baseline.spelling if self.baseline else DEFAULT_SPELLING

    def used(self) -> dict[str, str | None]:
        return {name: r.used for name, r in self.readings.items()}

    def adapt(self, doc: Any) -> Any:
        """``doc`` (canonical shapes) in the readings this CRM takes."""
        return readings.adapt(doc, self.used())

    def require(self) -> Baseline:
        """The baseline; the case skips, naming crm.sign.valid, when there is none."""
        if self.baseline is None:
            pytest.skip(
                "no baseline: the CRM accepted no correctly signed notification "
                "(crm.sign.valid says why)"
            )
        return self.baseline

    def alive(self, crm: CrmWebhook, *, wait: bool = True, window: float | None = None) -> Exchange:
        """Send the baseline again until it is accepted, or ``window`` seconds (default
        ``--sut-timeout``) have passed (once when not ``wait``). Recorded in ``crm``'s
        wire log; never skips."""
        probe = CrmWebhook(crm.client, crm.target, crm.settings, crm.log, crm.notes)
        probe.use(self.spelling, self.adapt)
        deadline = time.monotonic() + (self.settings.sut_timeout if window is None else window)
        while True:
            ex = probe.notify(self.require().fresh(), self.spelling, announce=False)
            if ok(ex) or not wait or time.monotonic() >= deadline:
                return ex
            time.sleep(0.2)

    def not_again(self, state: str) -> None:
        """Before a case's correctly signed notification of ``state``: when this CRM
        demonstrably does not answer those within --sut-timeout, the case does not wait
        again (``NotAnswering``, a skip naming the case that fails for it; only when that
        case is in the run, ``judged``)."""
        evidence = self.unanswered.silent(state) if self.judged else None
        if evidence is not None:
            raise NotAnswering(state, evidence, self.settings.sut_timeout)

    def on_crash(self, crm: CrmWebhook, ex: Exchange) -> None:
        """A case's request got a 5xx or no answer (the driver calls this).

        Once the CRM is known to have stopped answering, a case's failure proves
        nothing: it skips, naming the fault it stopped after -- unless the CRM
        answers again (a restart), which ends that. A correctly signed valid
        notification that crashed starts a liveness probe: the case fails for its
        own server error, and later cases know.
        """
        with self._lock:
            if self.stopped is not None:
                if ok(self.alive(crm, wait=False)):
                    crm.note(f"the CRM answers again (it had stopped after {self.stopped})")
                    self.stopped = None
                    return
                pytest.skip(
                    f"inconclusive: the CRM stopped answering after {self.stopped} ({ex.summary()})"
                )
            if (
                ex.expect != "accept"
                or self.baseline is None
                or getattr(self._local, "quiet", False)
            ):
                return
            # Generous: an overloaded CRM (a burst) is slow, not gone; only a CRM that does
            # not answer the baseline for this long makes the rest of the run inconclusive.
            alive = self.alive(crm, window=max(STOPPED_AFTER_S, 3 * self.settings.sut_timeout))
            if not ok(alive):
                self.stopped = f"a notification answered {ex.summary()[:120]}"
                crm.note(f"stopped answering: the baseline then got {alive.summary()}")

    def judge_refusal(
        self,
        crm: CrmWebhook,
        faulted: Exchange,
        doc: dict[str, Any],
        *,
        kind: RefusalKind,
        what: str,
        control_doc: dict[str, Any] | None = None,
        send_control: Callable[[dict[str, Any]], Exchange] | None = None,
        use_oracle: bool = True,
    ) -> None:
        """Grade ``faulted``: ``doc`` sent with one fault that should get it refused.

        ``doc`` is the notification the fault was applied to (its session is the
        one the oracle is asked about); the control is ``control_doc`` (default:
        ``doc``) on another fresh call, correctly signed (``send_control``
        overrides how it is sent). ``use_oracle`` False: the call is held anyway (its
        ``new`` was accepted), so only the answer can tell. DECISIONS D4, D6, D13, D34.
        """
        held: bool | None = None
        asked: Exchange | None = None
        if use_oracle and self.oracle is not None and kind in ("forgery", "key-holder"):
            held, asked = self.oracle.held(crm, doc)
        if held is True:
            verdict = Verdict.FAIL if kind == "forgery" else Verdict.NON_STRICT
            how = (
                "the oracle holds the call"
                if isinstance(self.oracle, HttpOracle)
                else "it then accepted the call's disconnected, which it refuses for calls "
                "it never saw"
            )
            raise finding(
                verdict,
                f"{what}: not processed",
                f"processed: {how} ({faulted.summary()})"
                + ("" if kind == "forgery" else "; only the key holder can sign it (D6)"),
                faulted,
                *([asked] if asked else []),
            )
        twin_doc = twin(control_doc if control_doc is not None else doc)
        self._local.quiet = True  # this case judges the CRM's liveness itself, below
        try:
            control = (
                send_control(twin_doc)
                if send_control
                else crm.notify(twin_doc, self.spelling, announce=False)
            )
        finally:
            self._local.quiet = False
        if not ok(control):
            if faulted.crashed and faulted.after_crash:
                if not ok(self.alive(crm)):
                    with self._lock:
                        self.stopped = self.stopped or f"a request before {what}"
                pytest.skip(
                    "inconclusive: the CRM was not answering before this case's fault either "
                    f"({faulted.summary()}; the request before it may be why)"
                )
            if faulted.crashed:
                alive = self.alive(crm)
                if not ok(alive):
                    with self._lock:
                        self.stopped = what
                    raise fail(
                        "an answer to the next valid notification",
                        f"stopped answering after {what} ({faulted.summary()}); the baseline "
                        f"then got {alive.summary()}",
                        faulted,
                        alive,
                    )
            else:
                pytest.skip(
                    f"inconclusive: the control (the same notification, correctly signed, on "
                    f"another fresh call) was not accepted: {control.summary()}"
                )
        grade_refusal(faulted, control, held, kind=kind, what=what)


#: The case that judges answer time (3.2.1): it fails where the others skip (D57).
JUDGE_OF_TIME = "crm.timing.latency"


class NotAnswering(Skipped):
    """A case's request not sent: the CRM let ``IN_A_ROW`` notifications of its state time
    out one after another (``evidence``). A skip, naming the case that fails for it."""

    def __init__(self, state: str, evidence: list[Exchange], timeout: float) -> None:
        self.state = state
        self.evidence = evidence
        self.said = (
            f"the CRM did not answer {len(evidence)} {state} notifications in a row within "
            f"--sut-timeout ({timeout:g} s)"
        )
        super().__init__(
            f"inconclusive: {self.said}: not sent again ({JUDGE_OF_TIME} fails for it)"
        )


def _short(ex: Exchange) -> str:
    return f"HTTP {ex.status}" if ex.status is not None else f"no answer ({ex.error})"
