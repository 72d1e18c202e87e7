"""What is not a notification (1.4.1: a POST with a JSON body; Table А.2).

Correctly signed, so that only the content is judged. The guide names no
answer for bad input (E12): a 4xx is expected, a 2xx is ``non-strict`` (it
hides integration bugs). A server error is graded by tier (DECISIONS D13):

* content a PBX may send -- a JSON object with a field missing or mistyped,
  as another edition or a bug might send it: a 5xx or no answer is ``fail``;
* input no PBX sends -- malformed or non-object JSON, invalid UTF-8, deep
  nesting, an oversized body, another HTTP method: a 5xx or no answer is
  ``non-strict``, and ``fail`` only when the CRM then stops accepting the
  baseline notification ("stopped answering after ...").

Each case sends its fault on a fresh call, then the control: the baseline
notification (or the unbroken one), correctly signed, on another fresh call.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.roles.crm_webhook._common import (
    REQUIRED,
    SHARE_VARIANTS,
    VARIANTS,
    Variant,
    as_new,
    broken,
    crm_case,
)
from conformance.sut.controls import CrmControls
from conformance.sut.drivers import CrmWebhook
from conformance.sut.notifications import ending, ok

MALFORMED = {
    "truncated": b'{"state": "new", "type": "incoming", "session_id": "7698',
    "trailing-comma": b'{"state": "new", "type": "incoming",}',
    "single-quotes": b"{'state': 'new'}",
    "not-json": b"state=new&type=incoming",
    "two-documents": b'{"state": "new"}{"state": "new"}',
}


def _garbage(crm: CrmWebhook, controls: CrmControls, body: bytes, what: str) -> None:
    """``body``, correctly signed, is input no PBX sends (tier 2)."""
    doc = controls.require().fresh()
    ex = crm.raw(body, expect="refuse")
    controls.judge_refusal(crm, ex, doc, kind="garbage", what=what)


@pytest.mark.parametrize("kind", sorted(MALFORMED))
@crm_case(
    "crm.input.malformed-json",
    section="1.4.1",
    title="A body that is not JSON is rejected, and the CRM keeps answering",
    requirement="Data is sent as JSON (1.4.1); a body that does not parse gets a 4xx, and the "
    "CRM goes on accepting notifications.",
)
def test_malformed_json_rejected(crm: CrmWebhook, crm_controls: CrmControls, kind: str) -> None:
    _garbage(crm, crm_controls, MALFORMED[kind], f"a body that is not JSON ({kind})")


NON_OBJECTS = {
    "array": b"[]",
    "string": b'"new"',
    "number": b"317",
    "null": b"null",
    "true": b"true",
}


@pytest.mark.parametrize("kind", sorted(NON_OBJECTS))
@crm_case(
    "crm.input.non-object",
    section="А.2",
    title="JSON that is not an object is rejected, and the CRM keeps answering",
    requirement="A notification is a JSON object of the fields of Table А.2; other JSON gets "
    "a 4xx.",
)
def test_non_object_rejected(crm: CrmWebhook, crm_controls: CrmControls, kind: str) -> None:
    _garbage(crm, crm_controls, NON_OBJECTS[kind], f"JSON that is not an object ({kind})")


@crm_case(
    "crm.input.empty-body",
    section="1.4.1",
    title="An empty body is rejected, and the CRM keeps answering",
    requirement="A notification has a JSON body; an empty one gets a 4xx.",
)
def test_empty_body_rejected(crm: CrmWebhook, crm_controls: CrmControls) -> None:
    _garbage(crm, crm_controls, b"", "an empty body")


@crm_case(
    "crm.input.invalid-utf8",
    section="1.4.1",
    title="A body that is not UTF-8 is rejected, and the CRM keeps answering",
    requirement="JSON text is UTF-8 (RFC 8259 8.1); cp1251 bytes get a 4xx.",
)
def test_invalid_utf8_rejected(crm: CrmWebhook, crm_controls: CrmControls) -> None:
    end = ending(crm_controls.require().fresh(), disconnect_reason="Отбой вызывающего абонента")
    body = crm.body(end, crm.spelling).decode("utf-8").encode("cp1251")
    _garbage(crm, crm_controls, body, "a body in cp1251, not UTF-8")


@crm_case(
    "crm.input.deeply-nested",
    section="1.4.1",
    title="Deeply nested JSON is answered, and the CRM keeps answering",
    requirement="A body nested 100 000 levels deep gets a 4xx, and the CRM goes on accepting "
    "notifications.",
)
def test_deep_nesting_answered(crm: CrmWebhook, crm_controls: CrmControls) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    _garbage(crm, crm_controls, body, "a body nested 100 000 levels deep")


#: Larger than any notification: the guide sets no size, a PBX sends a few hundred bytes.
OVERSIZED = 4 << 20


@crm_case(
    "crm.input.oversized",
    section="1.4.1",
    title="An oversized body is answered, and the CRM keeps answering",
    requirement="A correctly signed 4 MiB notification is accepted or refused with a 4xx, and "
    "the CRM goes on accepting notifications.",
)
def test_oversized_body_answered(crm: CrmWebhook, crm_controls: CrmControls) -> None:
    doc = crm_controls.require().fresh()
    body = crm.body(doc, crm.spelling)
    body = body[:-1] + b" " * OVERSIZED + body[-1:]
    ex = crm.raw(body)
    if ok(ex) or (ex.status is not None and 400 <= ex.status < 500):
        return  # either answer: the guide sets no size
    if ex.status is None:
        # Refusing to read on (nginx's 413 and close) reaches a sender as a reset:
        # a problem only when the CRM then stops answering (the control says).
        alive = crm_controls.alive(crm)
        if ok(alive):
            crm.note(f"the connection closed before the answer ({ex.error}); then accepted")
            return
    crm_controls.judge_refusal(crm, ex, doc, kind="garbage", what="a 4 MiB body")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@crm_case(
    "crm.input.wrong-method",
    section="1.4.1",
    title="A method other than POST is rejected, and the CRM keeps answering",
    requirement="Notifications are POST requests (1.4.1); other methods get a 4xx.",
)
def test_wrong_method_rejected(crm: CrmWebhook, crm_controls: CrmControls, method: str) -> None:
    doc = crm_controls.require().fresh()
    body = b"" if method in ("GET", "DELETE") else crm.body(doc, crm.spelling)
    ex = crm.post(body, crm.headers(body), method=method, expect="refuse")
    crm_controls.judge_refusal(crm, ex, doc, kind="garbage", what=f"a {method} request")


def _content(
    crm: CrmWebhook, controls: CrmControls, good: dict[str, Any], bad: dict[str, Any], what: str
) -> None:
    """``bad`` (``good`` with one field broken), correctly signed: content a PBX may send."""
    body = crm.body(bad, crm.spelling)
    ex = crm.post(body, crm.headers(body), expect="refuse")
    controls.judge_refusal(crm, ex, bad, kind="content", what=what, control_doc=good)


@pytest.mark.parametrize("field", REQUIRED)
@crm_case(
    "crm.input.missing-required",
    section="А.2",
    title="A notification without a required field is rejected",
    requirement="Fields marked 'Не допускается' (empty not allowed) must be present; a "
    "notification without one gets a 4xx, never a server error.",
)
def test_missing_required_rejected(crm: CrmWebhook, crm_controls: CrmControls, field: str) -> None:
    good = crm_controls.require().fresh()
    bad = {k: v for k, v in good.items() if k != field}
    _content(crm, crm_controls, good, bad, f"a notification without {field}")


WRONG: dict[str, dict[str, Any]] = {
    "state-unknown": {"state": "exploded"},
    "state-number": {"state": 1},
    "type-unknown": {"type": "sideways"},
    "session-id-empty": {"session_id": ""},
    "session-id-number": {"session_id": 76981273981237},
    "from-number-empty": {"from_number": ""},
    "from-number-not-a-number": {"from_number": "not a phone"},
    "timestamp-object": {"timestamp": {"seconds": 1511753600}},
    "timestamp-empty": {"timestamp": ""},
}


@pytest.mark.parametrize("kind", sorted(WRONG))
@crm_case(
    "crm.input.wrong-value",
    section="А.2",
    title="A notification with a value the table does not allow is rejected",
    requirement="Each field has the format and values Table А.2 gives it; a notification "
    "with another gets a 4xx, never a server error.",
)
def test_wrong_value_rejected(crm: CrmWebhook, crm_controls: CrmControls, kind: str) -> None:
    good = crm_controls.require().fresh()
    _content(crm, crm_controls, good, {**good, **WRONG[kind]}, f"a notification with {kind}")


@crm_case(
    "crm.input.explore-invalid",
    section="А.2",
    title="Generated invalid notifications are rejected, without a server error",
    requirement="A notification with a required field missing or of the wrong type gets a "
    "4xx, never a server error.",
    generated=True,
)
def test_generated_invalid_rejected(crm: CrmWebhook, crm_controls: CrmControls) -> None:
    crm_controls.require()

    def check(variant: Variant) -> None:
        good = as_new(crm.adapt(variant[0]))
        bad = broken((good, *variant[1:]))
        field, junk = variant[3], variant[4]
        _content(
            crm, crm_controls, good, bad, f"{field} {'absent' if junk == '<absent>' else 'broken'}"
        )

    crm.explore(VARIANTS, check, share=SHARE_VARIANTS)
