"""Readings: where the guide allows two shapes, the one a target takes (NOTES E1-E7).

A conformant implementation may pick either reading of a contradiction in the
guide, and production PBXs send shapes the 2017 guide does not print (NOTES.md,
"What production systems are publicly seen to do"). The suite probes which
reading a target accepts, uses it for the whole run wherever the shape is not
what a case is about, and records it (``info``; ``readings`` in results.json).

For a CRM (``call_events``, Table А.2) the dimensions are the shape of
``timestamp`` (E4), of the pins (E3) and of ``is_record`` (the table's Boolean,
production's strings). ``adapt`` turns a notification written in the guide's
canonical shapes (what the generators draw) into the readings in use.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from conformance.spec.schemas import Profile
from conformance.transport.client import Exchange

MOSCOW = timezone(timedelta(hours=3))

#: Each dimension's readings, in the order the guide profile prefers them: the
#: examples' or table's shape first, production's last (D33).
CRM_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "timestamp": ("unix-string", "unix-number", "moscow-datetime"),
    "pins": ("number", "string"),
    "is_record": ("boolean", "string"),
}
#: Where each reading comes from, for the report.
ORIGIN: dict[str, str] = {
    "unix-string": "the examples (E4)",
    "unix-number": "the table's Timestamp (E4)",
    "moscow-datetime": "production",
    "number": "Table А.2 and its examples (E3)",
    "string": "production",
    "boolean": "Table А.2 and its examples",
}
PIN_FIELDS = ("from_pin", "request_pin")


def preferred(dimension: str, profile: Profile) -> tuple[str, ...]:
    """The readings of ``dimension`` in the order ``profile`` tries them.

    Under ``field`` production's shape comes first: production is the contract.
    """
    order = CRM_DIMENSIONS[dimension]
    if profile == "field":
        return (order[-1], *order[:-1])
    return order


def timestamp(seconds: int, reading: str) -> str | int:
    """Unix ``seconds`` in ``reading``."""
    if reading == "unix-number":
        return seconds
    if reading == "moscow-datetime":
        moment = datetime.fromtimestamp(seconds, UTC).astimezone(MOSCOW)
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return str(seconds)


def pin(value: int, reading: str) -> int | str:
    return str(value) if reading == "string" else value


def is_record(value: bool, reading: str) -> bool | str:
    return ("true" if value else "false") if reading == "string" else value


@dataclass
class Reading:
    """What a target did with each reading of one dimension."""

    dimension: str
    tried: tuple[str, ...]
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    #: The one the run uses: the first accepted, in the profile's order.
    used: str | None = None
    #: Why the probe proves nothing (its control was refused), when it does not.
    inconclusive: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)

    def record(self, reading: str, ex: Exchange) -> bool:
        ok = ex.status is not None and 200 <= ex.status < 300
        if ok:
            self.accepted.append(reading)
            if self.used is None:
                self.used = reading
        else:
            self.refused[reading] = ex.summary()
        return ok

    def to_json(self, case: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "used": self.used,
            "accepted": self.accepted,
            "refused": self.refused,
            "case": case,
        }
        if self.inconclusive:
            out["inconclusive"] = self.inconclusive
        return out


def adapt(doc: Any, used: dict[str, str | None]) -> Any:
    """``doc`` (a notification in the canonical shapes, or a list of them) in the
    readings ``used``; a dimension whose reading is None leaves its field out.

    Canonical shapes: timestamp as a string of digits, pins as integers,
    is_record as a boolean (D8). Anything else is left as it is.
    """
    if isinstance(doc, list):
        return [adapt(item, used) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out = copy.deepcopy(doc)
    stamp = out.get("timestamp")
    ts = used.get("timestamp")
    if ts and isinstance(stamp, str) and stamp.isascii() and stamp.isdigit():
        out["timestamp"] = timestamp(int(stamp), ts)
    if "pins" in used:
        for name in PIN_FIELDS:
            value = out.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                if used["pins"] is None:
                    del out[name]
                else:
                    out[name] = pin(value, used["pins"])
    if "is_record" in used:
        value = out.get("is_record")
        if isinstance(value, bool):
            if used["is_record"] is None:
                del out["is_record"]
            else:
                out["is_record"] = is_record(value, used["is_record"])
    return out
