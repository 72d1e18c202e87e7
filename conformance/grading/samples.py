"""What the diagnoses read: each recorded exchange of a results.json document, once.

A ``Sample`` is one exchange with what every rule asks of it (its method, its
body as JSON, whether it was correctly signed and meant to be accepted, what
came back); grading/diagnose.py's rules compare samples across cases.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.spec.sections import method_of
from conformance.transport.client import body_bytes

#: Verdicts a diagnosis explains (``error`` is the suite's own fault).
EXPLAINABLE = frozenset({"fail", "non-strict", "info"})
#: (role, method) of the exchanges the suite answers itself: the PBX's notifications.
INCOMING = frozenset({("pbx-events", "call_events")})
#: The table of Appendix А that gives each method's fields.
SCHEMA_SECTIONS = {"call_events": "А.2", "call_back": "А.3", "get_record": "А.4"}
#: Fields whose value differs by design between otherwise equal requests.
VOLATILE = ("session_id", "timestamp")
#: Characters of an answer's body that identify it; a title shows fewer.
ANSWER_CHARS, TITLE_CHARS = 200, 80
MAX_EVIDENCE = 5

@dataclass(frozen=True, eq=False)
class Sample:
    """One recorded exchange, read once for every rule."""

    case: str
    verdict: str
    role: str
    index: int
    method: str
    body: bytes
    value: dict[str, Any] | None  # the body as a JSON object (UTF-8), else None
    status: int | None
    reply: str  # the answer's body (or the error) on one line, up to ANSWER_CHARS + 1
    signed: bool
    expect: str | None
    received: bool = False  # the suite's listener received it and answered

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    @property
    def status_label(self) -> str:
        return "no answer" if self.status is None else f"HTTP {self.status}"

    @property
    def answer(self) -> str:
        """What came back, on one line: ``HTTP 500 '...'``, ``no answer ('...')``."""
        return self.say(ANSWER_CHARS)

    def say(self, limit: int) -> str:
        text = repr(self.reply[:limit] + ("..." if len(self.reply) > limit else ""))
        if self.status is None:
            return f"no answer ({text})"
        return f"{self.status_label} {text}" if self.reply else f"{self.status_label} (empty body)"

    @property
    def fields(self) -> dict[str, Any]:
        return self.value or {}

    @property
    def incoming(self) -> bool:
        """A request the suite received and answered itself (not the target's answer)."""
        return self.received or (self.role, self.method) in INCOMING

    @property
    def valid(self) -> bool:
        """Correctly signed, meant to be accepted, a JSON object, answered by the target."""
        return (
            self.signed and self.expect == "accept" and self.value is not None and not self.incoming
        )

    def note(self, text: str) -> dict[str, Any]:
        return {"case": self.case, "exchange": self.index, "note": text}


def read_samples(case: Mapping[str, Any]) -> list[Sample]:
    out = []
    for index, exchange in enumerate(case.get("exchanges") or []):
        if not isinstance(exchange, Mapping):
            continue
        request = exchange.get("request")
        request = request if isinstance(request, Mapping) else {}
        response = exchange.get("response")
        status = response.get("status") if isinstance(response, Mapping) else None
        expect = exchange.get("expect")
        body = body_bytes(request)
        out.append(
            Sample(
                case=str(case.get("id", "")),
                verdict=str(case.get("verdict", "")),
                role=str(case.get("role", "")),
                index=index,
                method=method_of(str(request.get("url", ""))),
                body=body,
                value=json_object(body),
                status=status if isinstance(status, int) and not isinstance(status, bool) else None,
                reply=reply_of(exchange),
                signed=request.get("signed_correctly") is True,
                expect=expect if isinstance(expect, str) else None,
                received=exchange.get("received") is True,
            )
        )
    return out


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def reply_of(exchange: Mapping[str, Any]) -> str:
    response = exchange.get("response")
    if isinstance(response, Mapping):
        text = body_bytes(response)[: 4 * ANSWER_CHARS].decode("utf-8", "replace")
    else:
        text = str(exchange.get("error") or "")
    line = re.sub(r"\s+", " ", "".join(ch if ch.isprintable() else " " for ch in text)).strip()
    return line[: ANSWER_CHARS + 1]


def deciding_of(case: Mapping[str, Any], samples: Sequence[Sample]) -> list[Sample]:
    """The exchanges that decided a case: its ``evidence``, else its last exchange."""
    marked = case.get("evidence")
    chosen = [s for s in samples if isinstance(marked, list) and s.index in marked]
    return chosen or list(samples[-1:])


def forged_answers(samples: Sequence[Sample], method: str) -> Counter[str]:
    """What the target answered wrongly signed requests of ``method`` with (4xx only)."""
    return Counter(
        s.answer
        for s in samples
        if s.method == method and not s.incoming and not s.signed and s.refused
    )


def noun_of(method: str) -> str:
    return "notifications" if method == "call_events" else f"{method} requests"


