"""What every case of the CRM-webhook role shares."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st

from conformance.engine.drivers import unique_session
from conformance.engine.verdict import case
from conformance.spec import examples, lifecycle
from conformance.spec.jsontext import TextStyle, text_styles

ROLE = "crm-webhook"

#: ``@crm_case(id, section=..., title=..., requirement=...)``
crm_case = functools.partial(case, role=ROLE)


def notification(**changes: Any) -> dict[str, Any]:
    """The guide's disconnected example (А.2) with a session id of its own, and ``changes``.

    ``None`` in ``changes`` removes a field.
    """
    doc: dict[str, Any] = examples.value("call_events.disconnected")
    doc["session_id"] = unique_session(doc["session_id"])
    for key, val in changes.items():
        if val is None:
            doc.pop(key, None)
        else:
            doc[key] = val
    return doc


#: One party of each kind, in the shapes of the guide's examples (А.2).
_EXTERNAL: dict[str, Any] = {"number": "+74951234567"}
_DOMAIN: dict[str, Any] = {"number": "+74991234567"}
_USER: dict[str, Any] = {"number": "user@domain.ru", "pin": 317}
_USER2: dict[str, Any] = {"number": "sip:user2@domain.ru", "pin": 318}
_ENDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "incoming": (_EXTERNAL, _USER),
    "outbound": (_USER, _EXTERNAL),
    "internal": (_USER, _USER2),
}


def sample(state: str, call_type: str) -> dict[str, Any]:
    """A notification of ``state`` for a ``call_type`` call, carrying every field А.2 gives it."""
    from conformance.spec.lifecycle import carries

    caller, callee = _ENDS[call_type]
    if call_type == "incoming" and state == "new":
        callee = _DOMAIN
    doc: dict[str, Any] = {
        "state": state,
        "type": call_type,
        "session_id": unique_session("76981273981237"),
        "timestamp": "1511753600",
        "from_number": caller["number"],
        "request_number": callee["number"],
    }
    optional = {
        "from_pin": caller.get("pin"),
        "request_pin": callee.get("pin"),
        "disconnect_reason": "Отбой вызывающего абонента",
        "is_record": True,
    }
    for field, value in optional.items():
        if value is not None and carries(field, state, call_type):
            doc[field] = value
    return doc


#: Values no required field of Table А.2 admits under any profile or reading
#: (all are strings, timestamp may also be an integer -- and a boolean is not one).
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
REQUIRED = ("session_id", "timestamp", "type", "state", "from_number", "request_number")
DROP = "<absent>"

#: One generated input serves several cases: a notification, a JSON spelling, a
#: signature digit to corrupt, and a required field to break (removed or junk).
Variant = tuple[dict[str, Any], TextStyle, int, str, Any]
VARIANTS: st.SearchStrategy[Variant] = st.tuples(
    lifecycle.notifications(),
    text_styles(),
    st.integers(0, 63),
    st.sampled_from(REQUIRED),
    st.one_of(st.just(DROP), JUNK),
)
SHARE_VARIANTS = "crm.notification-variants"
SHARE_ANSWERED = "crm.answered-calls"


def broken(variant: Variant) -> dict[str, Any]:
    """The variant's notification with its chosen required field removed or made junk."""
    doc, _, _, field, junk = variant
    out = dict(doc)
    if junk == DROP:
        del out[field]
    else:
        out[field] = junk
    return out
