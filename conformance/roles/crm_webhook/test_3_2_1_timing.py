"""Section 3.2.1 "Таймаут, сек": the PBX waits a bounded time for each answer.

    "время в секундах, в течение которого Интеграционный API ожидает ответ на
    свои запросы/уведомления"

The guide gives no default (E12); the suite waits ``--sut-timeout`` (5 s by
default) for every answer of every case, and these cases look at latency
directly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from conformance.grading import checks
from conformance.grading.checks import percentiles
from conformance.grading.explore import draw
from conformance.grading.verdict import fail
from conformance.roles.crm_webhook._common import SHARE_ANSWERED, crm_case
from conformance.spec import lifecycle
from conformance.sut.controls import NotAnswering
from conformance.sut.drivers import CrmWebhook, fresh
from conformance.transport.client import Exchange

SEQUENTIAL = 30
BURST_CALLS = 20


def _calls(crm: CrmWebhook, count: int) -> list[list[dict[str, object]]]:
    """``count`` whole calls, the same on every run with this seed, each its own session,
    in the readings the CRM takes."""
    drawn = draw(
        lifecycle.calls(scenario="answered"),
        seed_value=crm.settings.seed,
        count=BURST_CALLS,
        share=SHARE_ANSWERED,
    )
    return [crm.adapt(fresh(call)) for call in drawn[:count]]


@crm_case(
    "crm.timing.latency",
    section="3.2.1",
    title="Answers come within the timeout, and their latency is recorded",
    requirement="Each notification is answered within the PBX's timeout (--sut-timeout).",
)
def test_latency_recorded(crm: CrmWebhook) -> None:
    log: list[Exchange] = []
    for call in _calls(crm, SEQUENTIAL // 3):
        for doc in call:
            try:
                ex = crm.notify(doc, announce=False)
            except NotAnswering as silent:  # shown before this case: not waited for again
                crm.log.extend(silent.evidence)
                raise fail(
                    "an HTTP answer within the timeout", f"{silent.said}", *silent.evidence
                ) from None
            checks.not_a_server_error(ex)
            log.append(ex)
    crm.note(f"{len(log)} sequential answers, ms: {percentiles([e.elapsed_ms for e in log])}")


@crm_case(
    "crm.timing.burst",
    section="3.2.1",
    title="A burst of concurrent calls is answered in time",
    requirement=f"{BURST_CALLS} calls notified at once are each answered within the timeout "
    "without a server error.",
)
def test_burst_answered(crm: CrmWebhook) -> None:
    # Sent whatever the run knows of unanswered states, and no evidence for it: what a
    # CRM leaves unanswered under a burst says nothing of one notification at a time.
    crm.watch(None)
    calls = _calls(crm, BURST_CALLS)

    def deliver(call: list[dict[str, object]]) -> list[Exchange]:
        return [crm.notify(doc, announce=False) for doc in call]

    with ThreadPoolExecutor(max_workers=BURST_CALLS) as pool:
        exchanges = [ex for call in pool.map(deliver, calls) for ex in call]
    for ex in exchanges:
        checks.not_a_server_error(ex)
    crm.note(
        f"{len(exchanges)} answers under {BURST_CALLS} concurrent calls, ms: "
        f"{percentiles([e.elapsed_ms for e in exchanges])}"
    )
