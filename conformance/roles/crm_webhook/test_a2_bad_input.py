"""What is not a notification (1.4.1: a POST with a JSON body; Table А.2).

Correctly signed, so that only the content is judged. The guide names no
answer for bad input (E12): a 4xx is expected, a 2xx is ``non-strict`` (it
hides integration bugs), and a 5xx or no answer is a ``fail``.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.engine import checks
from conformance.engine.drivers import CrmWebhook
from conformance.roles.crm_webhook._common import (
    REQUIRED,
    SHARE_VARIANTS,
    VARIANTS,
    broken,
    crm_case,
    notification,
)

MALFORMED = {
    "truncated": b'{"state": "new", "type": "incoming", "session_id": "7698',
    "trailing-comma": b'{"state": "new", "type": "incoming",}',
    "single-quotes": b"{'state': 'new'}",
    "not-json": b"state=new&type=incoming",
    "two-documents": b'{"state": "new"}{"state": "new"}',
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
@crm_case(
    "crm.input.malformed-json",
    section="1.4.1",
    title="A body that is not JSON is rejected, without a server error",
    requirement="Data is sent as JSON (1.4.1); a body that does not parse gets a 4xx.",
)
def test_malformed_json_rejected(crm: CrmWebhook, kind: str) -> None:
    checks.rejected_as_bad_input(crm.raw(MALFORMED[kind]))


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
    title="JSON that is not an object is rejected, without a server error",
    requirement="A notification is a JSON object of the fields of Table А.2.",
)
def test_non_object_rejected(crm: CrmWebhook, kind: str) -> None:
    checks.rejected_as_bad_input(crm.raw(NON_OBJECTS[kind]))


@crm_case(
    "crm.input.empty-body",
    section="1.4.1",
    title="An empty body is rejected, without a server error",
    requirement="A notification has a JSON body; an empty one gets a 4xx.",
)
def test_empty_body_rejected(crm: CrmWebhook) -> None:
    checks.rejected_as_bad_input(crm.raw(b""))


@crm_case(
    "crm.input.invalid-utf8",
    section="1.4.1",
    title="A body that is not UTF-8 is rejected, without a server error",
    requirement="JSON text is UTF-8 (RFC 8259 8.1); cp1251 bytes get a 4xx.",
)
def test_invalid_utf8_rejected(crm: CrmWebhook) -> None:
    body = crm.body(notification()).decode("utf-8").encode("cp1251")
    checks.rejected_as_bad_input(crm.raw(body))


@crm_case(
    "crm.input.deeply-nested",
    section="1.4.1",
    title="Deeply nested JSON is answered, without a server error",
    requirement="A body nested 100 000 levels deep gets an answer that is not a 5xx.",
)
def test_deep_nesting_answered(crm: CrmWebhook) -> None:
    checks.rejected_as_bad_input(crm.raw(b"[" * 100_000 + b"]" * 100_000))


@pytest.mark.parametrize("field", REQUIRED)
@crm_case(
    "crm.input.missing-required",
    section="А.2",
    title="A notification without a required field is rejected",
    requirement="Fields marked 'Не допускается' (empty not allowed) must be present.",
)
def test_missing_required_rejected(crm: CrmWebhook, field: str) -> None:
    doc = notification()
    del doc[field]
    checks.rejected_as_bad_input(crm.notify(doc, announce=False))


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
    requirement="Each field has the format and values Table А.2 gives it.",
)
def test_wrong_value_rejected(crm: CrmWebhook, kind: str) -> None:
    checks.rejected_as_bad_input(crm.notify(notification(**WRONG[kind]), announce=False))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@crm_case(
    "crm.input.wrong-method",
    section="1.4.1",
    title="A method other than POST is rejected, without a server error",
    requirement="Notifications are POST requests (1.4.1); other methods get a 4xx.",
)
def test_wrong_method_rejected(crm: CrmWebhook, method: str) -> None:
    body = b"" if method in ("GET", "DELETE") else crm.body(notification())
    checks.rejected_as_bad_input(crm.post(body, crm.headers(body), method=method))


@crm_case(
    "crm.input.explore-invalid",
    section="А.2",
    title="Generated invalid notifications are rejected, without a server error",
    requirement="A notification with a required field missing or of the wrong type gets a 4xx.",
)
def test_generated_invalid_rejected(crm: CrmWebhook) -> None:
    crm.explore(
        VARIANTS,
        lambda v: checks.rejected_as_bad_input(crm.notify(broken(v), announce=False)),
        share=SHARE_VARIANTS,
    )
