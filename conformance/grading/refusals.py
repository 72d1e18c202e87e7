"""Grading a refusal: the answer to one fault, read against its accepted control.

A 4xx passes; a 2xx whose JSON ``result`` is non-zero where the control's is
zero passes (a refusal in the API's own terms, А.3's answers); a server error
fails only on input a PBX may send; anything else is ``non-strict`` and says
how to make it tell (DECISIONS D4, D6, D13, D34). sut/controls.py sends the
fault, the control and the oracle's question, then calls ``grade_refusal``.
"""

from __future__ import annotations

from typing import Literal

from conformance.grading import answers
from conformance.grading.verdict import fail, non_strict
from conformance.transport.client import Exchange

#: What a fault does to a request: forged (no key), signed by the key holder but
#: wrong, another reading, wrong content, or not a notification at all.
RefusalKind = Literal["forgery", "key-holder", "reading", "content", "garbage"]


def says_refused(ex: Exchange, control: Exchange) -> bool:
    """A 2xx whose JSON ``result`` is non-zero where the control's is zero: a refusal
    in the API's own terms (А.3's answers). Any other difference proves nothing."""
    mine, theirs = answers.parse(ex).result, answers.parse(control).result
    return (
        answers.is_zero(theirs)
        and mine is not None
        and not answers.is_zero(mine)
        and not isinstance(mine, bool)
    )


def grade_refusal(
    ex: Exchange,
    control: Exchange,
    held: bool | None,
    *,
    kind: RefusalKind,
    what: str,
) -> None:
    """Grade the answer ``ex`` to a request with one fault that should get it refused,
    given the ``control`` (the same request, correctly signed, accepted) and what the
    oracle said (``held``). DECISIONS D4, D6, D13, D34."""
    status = ex.status
    if kind == "content" and ex.crashed:
        raise fail(f"no server error on {what} (a PBX may send it)", ex.summary(), ex)
    if ex.crashed:
        raise non_strict(
            f"a 4xx for {what}",
            f"{ex.summary()}: a server error on input no correct PBX sends"
            + (", nothing processed (oracle)" if held is False else ""),
            ex,
        )
    assert status is not None
    if held is False or 400 <= status < 500:
        return
    if 300 <= status < 400:
        raise non_strict(f"a 4xx for {what}", f"{ex.summary()}: a redirect", ex)
    if says_refused(ex, control):
        return
    if kind == "forgery":
        raise non_strict(
            f"a visible refusal (4xx) of {what}",
            f"acknowledged ({ex.summary()}); whether it was processed cannot be seen -- "
            "answer 4xx so the PBX log shows the refusal (3.2.3), or give --crm-oracle",
            ex,
        )
    if kind == "key-holder":
        raise non_strict(
            f"a refusal of {what}",
            f"accepted ({ex.summary()}); only the key holder can sign it, so this is "
            "lenient, not a breach (D6)",
            ex,
        )
    raise non_strict(f"a 4xx for {what}", f"{ex.summary()}: acknowledged", ex)
