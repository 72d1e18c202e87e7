"""Production shapes of call_events (NOTES.md, later editions up to v7.5).

Under ``--profile guide`` a receiver that refuses them is told so (``info``);
under ``--profile field`` it would lose real calls, and fails. Each case
changes one field of a notification written in the readings the CRM takes,
so that only that field's shape is on trial.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.grading import checks, readings
from conformance.grading.verdict import Verdict
from conformance.roles.crm_webhook._common import crm_case, notification
from conformance.spec import lifecycle
from conformance.sut.drivers import CrmWebhook, unique_session

SHAPES: dict[str, dict[str, Any]] = {
    # Production's spelling ("2020-05-12 10:46:56.725"), of a recent moment.
    "timestamp-datetime": {"timestamp": readings.timestamp(lifecycle.RECENT, "moscow-datetime")},
    "pins-as-strings": {"request_pin": "201"},
    "pin-empty-string": {"request_pin": ""},
    "is-record-string": {"is_record": "true"},
    "is-record-empty-string": {"is_record": ""},
    "disconnect-reason-code": {"disconnect_reason": "4"},
    # Later states carry only what any non-disconnect notification does (А.2, E6).
    "state-calling": {"state": "calling", "disconnect_reason": None, "is_record": None},
    "state-end": {"state": "end", "disconnect_reason": None, "is_record": None},
    "state-analytics": {"state": "analytics", "disconnect_reason": None, "is_record": None},
    "sip-uri-two-ats": {"from_number": "sip:111@test@domain.com"},
    "session-id-dashed": {"session_id": "1674-aFEQBQE"},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@crm_case(
    "crm.field.shape",
    section="А.2",
    title="A shape production PBXs send is accepted",
    requirement="Under the field profile, every shape production PBXs are seen to send is "
    "accepted; under the guide profile a refusal is recorded.",
)
def test_field_shape(crm: CrmWebhook, shape: str) -> None:
    otherwise = Verdict.FAIL if crm.settings.profile == "field" else Verdict.INFO
    changes = dict(SHAPES[shape])
    if "session_id" in changes:
        changes["session_id"] = unique_session(changes["session_id"])
    checks.accepted(
        crm.notify(crm.adapt(notification(**changes))),
        otherwise=otherwise,
        why=f"production PBXs send this shape ({shape})",
    )
