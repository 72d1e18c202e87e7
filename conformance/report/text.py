"""Values of results.json read defensively, and shown as text (no markup: templates escape)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

#: Bodies up to this many characters are also shown pretty-printed.
MAX_PRETTY = 64 * 1024


def s(value: Any) -> str:
    """``value`` as text; None as nothing."""
    return "" if value is None else str(value)


def counted(n: object, noun: str) -> str:
    """``1 case``, ``3 cases``."""
    return f"{s(n)} {noun}{'s' if n != 1 else ''}"


_CONTROL = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_CONTROL[0x7F] = "\u2421"


def visible(text: str) -> str:
    """``text`` with control characters (but tab and newline) as visible symbols (␍, ␀)."""
    return text.translate(_CONTROL)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its members in order, duplicates kept."""


class _Number(str):
    """A JSON number as it was spelled."""


def _pretty(value: Any, depth: int = 0) -> str:
    pad, end = "  " * (depth + 1), "  " * depth
    if isinstance(value, _Pairs):
        if not value:
            return "{}"
        members = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, depth + 1)}" for k, v in value
        ]
        return "{\n" + ",\n".join(members) + "\n" + end + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(pad + _pretty(v, depth + 1) for v in value) + "\n" + end + "]"
    if isinstance(value, _Number):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def pretty_json(text: str) -> str | None:
    """``text`` re-indented when it is JSON (members, duplicates and numbers as sent), else None."""
    if len(text) > MAX_PRETTY or not text.strip():
        return None
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_float=_Number,
            parse_int=_Number,
            parse_constant=_Number,
        )
        return _pretty(doc)
    except (ValueError, RecursionError):
        return None


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def when(started: Any) -> str:
    try:
        moment = datetime.fromisoformat(s(started))
    except ValueError:
        return s(started) or "?"
    zone = " UTC" if moment.utcoffset() == timedelta(0) else moment.strftime(" %z")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + zone


def ms(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "?"


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_int(value: Any) -> int:
    """``value`` if it is an integer (not a boolean), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
