"""The notifications the CRM's controls are built of, and how their answers read.

The baseline (the simplest ``new`` this CRM accepts, in the readings and
spelling it takes), its fresh copies on other calls (``twin``), the missed-call
ending of a call (``ending``), and what counts as accepted (``ok``); what counts
as refused is grading/refusals.py's. sut/controls.py establishes them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from conformance.grading import readings
from conformance.spec import lifecycle
from conformance.sut.drivers import unique_session
from conformance.transport.client import Exchange

#: The session id the suite's calls are named after (the guide's example, А.2).
SESSION_BASE = "76981273981237"
#: When the suite's own calls happen: recently (a CRM may refuse stale notifications).
STAMP = lifecycle.RECENT
T = TypeVar("T")



def ok(ex: Exchange) -> bool:
    return ex.status is not None and 200 <= ex.status < 300


def retried(
    attempt: Callable[[int], tuple[T, Exchange]], pauses: tuple[float, ...]
) -> tuple[T, Exchange]:
    """``attempt(0)``, then ``attempt(1)``, ... after each pause while its answer is a 5xx
    or none (a proxy warming up, a cold start): a passing fault is no verdict."""
    result = attempt(0)
    for n, pause in enumerate(pauses, 1):
        if not result[1].crashed:
            break
        time.sleep(pause)
        result = attempt(n)
    return result


def new_notification(shape: str, ts: str, pins: str | None) -> dict[str, Any]:
    """A ``new`` of a fresh call (А.2): an incoming call as the guide's example, or an
    internal one carrying both pins in reading ``pins``."""
    doc: dict[str, Any] = {
        "state": "new",
        "type": shape,
        "session_id": unique_session(SESSION_BASE),
        "timestamp": readings.timestamp(STAMP, ts),
    }
    if shape == "incoming":
        doc.update(from_number="+74951234567", request_number="+74991234567")
    else:
        doc.update(from_number="user@domain.ru", request_number="sip:user2@domain.ru")
        if pins is not None:
            doc.update(from_pin=readings.pin(317, pins), request_pin=readings.pin(318, pins))
    return doc


def twin(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` on another fresh call: the same notification, its own session id."""
    out = copy.deepcopy(doc)
    out["session_id"] = unique_session(SESSION_BASE)
    return out


def ending(doc: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The ``disconnected`` of ``doc``'s call (a missed call: no connected), one second
    later, with only the fields every notification carries, and ``extra``."""
    out = {k: doc[k] for k in ("type", "session_id", "from_number", "request_number")}
    stamp = doc["timestamp"]
    seconds = STAMP
    if isinstance(stamp, int) or (isinstance(stamp, str) and stamp.isdigit()):
        seconds = int(stamp)
    ts_reading = _reading_of(stamp)
    return {
        "state": "disconnected",
        **out,
        "timestamp": readings.timestamp(seconds + 1, ts_reading),
        **extra,
    }


def _reading_of(stamp: Any) -> str:
    if isinstance(stamp, int):
        return "unix-number"
    if isinstance(stamp, str) and stamp.isdigit():
        return "unix-string"
    return "moscow-datetime"


@dataclass(frozen=True)
class Baseline:
    """The ``new`` this CRM accepted, and how it was written."""

    doc: dict[str, Any]
    shape: str
    timestamp: str
    pins: str | None
    spelling: str

    def fresh(self) -> dict[str, Any]:
        """The baseline notification on a fresh call."""
        return twin(self.doc)

    def to_json(self) -> dict[str, Any]:
        return {
            "shape": f"new of an {self.shape} call",
            "timestamp": self.timestamp,
            "pins": self.pins,
            "spelling": self.spelling,
            "case": "crm.sign.valid",
        }


