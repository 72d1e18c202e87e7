"""What every case of the CRM-webhook role shares."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import strategies as st

from conformance.grading.verdict import case, case_param, fail, info, non_strict
from conformance.spec import examples, lifecycle, mutations
from conformance.spec.generate import JUNK
from conformance.spec.jsontext import STYLES, TextStyle, text_styles
from conformance.sut.controls import CrmControls
from conformance.sut.drivers import CrmWebhook, unique_session
from conformance.sut.notifications import ok, twin

ROLE = "crm-webhook"

#: ``@crm_case(id, section=..., title=..., requirement=...)``
crm_case = functools.partial(case, role=ROLE)


def mutation_params(family: str) -> list[Any]:
    """The rows of the mutation table (spec/mutations.py) of ``family``, as cases."""
    return [
        case_param(
            row,
            variant=row.variant,
            id=f"crm.{row.base_id}",
            title=row.title,
            section=row.section,
            requirement=row.requirement,
            role=ROLE,
        )
        for row in mutations.TABLE
        if row.family == family
    ]


def other_spelling(spelling: str) -> str:
    """A spelling of the same value in other bytes."""
    return "pretty-2" if spelling != "pretty-2" else "compact"


def altered(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with one value changed (the caller's number), its session kept."""
    number = "+74951234568" if doc.get("from_number") != "+74951234568" else "+74951234569"
    return {**doc, "from_number": number}


def run_mutation(crm: CrmWebhook, controls: CrmControls, row: mutations.Mutation) -> None:
    """Apply ``row`` to a fresh copy of the baseline and judge what the CRM did with it.

    The oracle (if any) is asked about the faulted notification's call; the control
    is the same notification, correctly signed, on another fresh call (D34).
    """
    doc = controls.require().fresh()
    body = crm.body(doc, crm.spelling)
    request = mutations.Request(
        crm.target.client_id,
        crm.target.client_key,
        body,
        body,
        altered=crm.body(altered(doc), crm.spelling),
        respelled=crm.body(doc, other_spelling(crm.spelling)),
    )
    faulted = row.apply(request)
    assert faulted is not None, f"{row.base_id} applies to every notification"
    ex = crm.faulted("POST", crm.url, faulted)
    if row.kind == "reading":
        if ex.crashed:
            raise non_strict(f"an answer to {row.fault}", ex.summary(), ex)
        raise info(
            "either answer: the guide does not say",
            f"{row.fault}: {'accepted' if ok(ex) else 'refused'} ({ex.summary()})",
            ex,
        )
    controls.judge_refusal(crm, ex, doc, kind=row.kind, what=row.fault)


def as_new(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (any state) as the ``new`` of its call: what А.2 gives a new, no more."""
    out = {k: v for k, v in doc.items() if k not in ("disconnect_reason", "is_record")}
    out["state"] = "new"
    return out


def respelled_twins(
    crm: CrmWebhook, doc: dict[str, Any], refused_in: str, *, announce: bool = True
) -> tuple[str, Any] | None:
    """The first spelling in which ``doc``'s twin is accepted, with its exchange.

    The control of a spelling case: the same value, on another fresh call, in
    the run's spelling or one a re-serialising receiver would write. None when
    every one is refused (then the value, not its spelling, is refused).
    """
    for spelling in dict.fromkeys(
        (crm.spelling, "raw-utf8", "compact", "unicode-escaped", "escaped-everything")
    ):
        if spelling == refused_in:
            continue
        ex = crm.notify(twin(doc), spelling, announce=announce)
        if ok(ex):
            return spelling, ex
    return None


def spelled(
    crm: CrmWebhook,
    doc: dict[str, Any],
    style: TextStyle | str,
    label: str,
    *,
    announce: bool = True,
) -> None:
    """``doc``, correctly signed in ``style``, is accepted -- or refused only where the same
    value is refused in every spelling (then it is not the spelling's fault: skip).

    A server error on a valid notification fails whatever the spelling (D13).
    """
    ex = crm.notify(doc, style, announce=announce)
    if ok(ex):
        return
    if ex.crashed:
        raise fail("no server error on a valid notification", ex.summary(), ex)
    control = respelled_twins(crm, doc, label)
    if control is None:
        pytest.skip(
            "inconclusive: the same notification was refused in every spelling tried "
            f"({ex.summary()}); its content, not its spelling, is refused (crm.content cases)"
        )
    raise fail(
        "accepted whatever the JSON spelling: the signature covers the bytes as sent (1.4.2)",
        f"written {label}: {ex.summary()}; the same value written {control[0]} was accepted",
        ex,
        control[1],
    )


def style_name(style: TextStyle) -> str:
    """The name of a named style, or a description of a generated one."""
    for name, named in STYLES.items():
        if named == style:
            return name
    return "a generated spelling"


def notification(**changes: Any) -> dict[str, Any]:
    """The guide's disconnected example (А.2) with a session id and a recent time of its own,
    and ``changes``.

    ``None`` in ``changes`` removes a field.
    """
    doc: dict[str, Any] = examples.value("call_events.disconnected")
    doc["session_id"] = unique_session(doc["session_id"])
    doc["timestamp"] = str(lifecycle.RECENT)
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
        "timestamp": str(lifecycle.RECENT),
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
