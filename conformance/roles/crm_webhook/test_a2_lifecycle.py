"""The life of a call as notifications (Table А.2; the model in conformance/spec/lifecycle.py).

One ``session_id`` for every event of a call, transfers included. The guide
promises no delivery order and no retry policy (E12), so a receiver meets
duplicates and late notifications: it must not crash (``fail``), and should
acknowledge them (a 4xx is ``non-strict``: the PBX would log a failure for a
notification the CRM already had).

Calls are written in the readings this CRM takes (its pins, ``is_record`` and
timestamp shapes, grading/readings.py): their shapes are the content cases'
subject, not these.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import strategies as st

from conformance.grading import checks
from conformance.grading.verdict import Verdict
from conformance.roles.crm_webhook._common import SHARE_ANSWERED, crm_case, sample
from conformance.spec import lifecycle
from conformance.sut.drivers import CrmWebhook

COMBOS = [(t, s) for t in lifecycle.CALL_TYPES for s in sorted(lifecycle.SCENARIOS)]
#: One example holds a call of every type and scenario; each case takes its own.
EVERY_KIND_OF_CALL = st.tuples(*(lifecycle.calls(t, s) for t, s in COMBOS))
SHARE_EVERY_KIND = "crm.every-kind-of-call"


def _deliver_all(
    crm: CrmWebhook, notes: list[dict[str, Any]], otherwise: Verdict = Verdict.FAIL
) -> None:
    """Deliver ``notes`` as given; a repeated (session_id, state) is graded at most non-strict.

    The guide says later events of a call (transfers) share its session_id (А.2),
    not that a transfer repeats ``connected``: a CRM that keeps one ``connected``
    per call reads it differently, and is not failed for that.
    """
    seen: set[tuple[str, str]] = set()
    for doc in crm.adapt(notes):
        key = (str(doc.get("session_id")), str(doc.get("state")))
        verdict = Verdict.NON_STRICT if key in seen else otherwise
        seen.add(key)
        checks.accepted(crm.notify(doc, announce=False), otherwise=verdict)


@pytest.mark.parametrize(("call_type", "scenario"), COMBOS, ids=[f"{t}-{s}" for t, s in COMBOS])
@crm_case(
    "crm.lifecycle.call",
    section="А.2",
    title="Every notification of a whole call is accepted, in order",
    requirement="The notifications of an answered, missed or transferred call of each type, "
    "delivered in order with one session_id, are all accepted.",
    generated=True,
)
def test_whole_call_accepted(crm: CrmWebhook, call_type: str, scenario: str) -> None:
    which = [f"{t}-{s}" for t, s in COMBOS].index(f"{call_type}-{scenario}")
    crm.explore(
        EVERY_KIND_OF_CALL,
        lambda calls: _deliver_all(crm, calls[which]),
        share=SHARE_EVERY_KIND,
        per=5,
    )


@crm_case(
    "crm.lifecycle.interleaved",
    section="А.2",
    title="Notifications of concurrent calls, interleaved, are accepted",
    requirement="Notifications of several calls in progress at once arrive interleaved; "
    "each is accepted.",
    generated=True,
)
def test_interleaved_calls_accepted(crm: CrmWebhook) -> None:
    def check(per_call: list[list[dict[str, Any]]]) -> None:
        _deliver_all(crm, lifecycle.interleave(per_call, random.Random(crm.settings.seed)))

    crm.explore(lifecycle.several_calls(), check, per=5)


@crm_case(
    "crm.lifecycle.duplicate",
    section="А.2",
    title="A notification delivered twice is acknowledged both times",
    requirement="The same notification may arrive again (no retry policy is specified, E12); "
    "the repeat is acknowledged, never answered with a server error.",
    generated=True,
)
def test_duplicate_acknowledged(crm: CrmWebhook) -> None:

    def check(notes: list[dict[str, Any]]) -> None:
        for doc in crm.adapt(notes):
            checks.accepted(crm.notify(doc, announce=False))
            checks.accepted(
                crm.notify(doc, announce=False),
                otherwise=Verdict.NON_STRICT,
                why="a retried notification is still a valid notification",
            )

    crm.explore(lifecycle.calls(scenario="answered"), check, share=SHARE_ANSWERED, per=5)


ORDERS = {
    "disconnected-first": (2, 0, 1),
    "connected-before-new": (1, 0, 2),
    "reversed": (2, 1, 0),
}


@pytest.mark.parametrize("order", sorted(ORDERS))
@crm_case(
    "crm.lifecycle.out-of-order",
    section="А.2",
    title="Notifications of one call delivered out of order are acknowledged",
    requirement="Nothing in the guide orders deliveries; a late notification (even a "
    "disconnected before its new) is acknowledged, never a server error.",
    generated=True,
)
def test_out_of_order_acknowledged(crm: CrmWebhook, order: str) -> None:

    def check(notes: list[dict[str, Any]]) -> None:
        _deliver_all(crm, [notes[i] for i in ORDERS[order]], otherwise=Verdict.NON_STRICT)

    crm.explore(lifecycle.calls(scenario="answered"), check, share=SHARE_ANSWERED, per=5)


@crm_case(
    "crm.lifecycle.explore",
    section="А.2",
    title="Generated deliveries (interleaved, repeated, late) never cause a server error",
    requirement="Whatever order and repetition the notifications of several calls arrive "
    "in, each one is acknowledged.",
    generated=True,
)
def test_generated_deliveries(crm: CrmWebhook) -> None:
    crm.explore(
        lifecycle.deliveries(), lambda notes: _deliver_all(crm, notes, Verdict.NON_STRICT), per=3
    )


@pytest.mark.parametrize("call_type", lifecycle.CALL_TYPES)
@crm_case(
    "crm.lifecycle.same-second",
    section="А.2",
    title="A call whose notifications share one timestamp is accepted",
    requirement="Timestamps are whole seconds and the guide's three examples share one, so "
    "the new, connected and disconnected of a short call, all in one second, are accepted.",
)
def test_same_second_call_accepted(crm: CrmWebhook, call_type: str) -> None:
    notes = [sample(state, call_type) for state in lifecycle.SCENARIOS["answered"]]
    session_id = notes[0]["session_id"]
    for doc in notes:
        doc["session_id"] = session_id
    _deliver_all(crm, notes)
