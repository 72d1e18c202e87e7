"""What a recorded JSON body looks like: how it is spelled, and the shape of each field.

The reading side of ``conformance.spec.jsontext`` (which writes one value in many
spellings): ``spelling`` names, aspect by aspect, how a body was written, so that
two bodies of one value can be told apart in words ("compact (',' and ':')",
"\\uXXXX escapes", "keys in another order"). ``shape`` and ``features`` describe
a parsed body's fields for the diagnoses (grading/diagnose.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Fields whose value, not only its shape, is a feature (Table А.2's enumerations).
VALUED = ("state", "type")
SHAPES = {
    "absent": "is absent",
    "null": "is null",
    "boolean": "is a boolean",
    "integer": "is an integer",
    "number": "is a non-integer number",
    "empty-string": "is an empty string",
    "digit-string": "is a string of digits",
    "string": "is a non-digit string",
    "object": "is an object",
    "array": "is an array",
}

Feature = tuple[str, str]  # (field, shape), or (field, "=value") for VALUED fields

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_WS = " \t\r\n"
#: A separator and the spaces around it. The lookbehind starts a match only where a run
#: of spaces starts: without it a long run not followed by the separator (a padded body)
#: is scanned again from each of its positions, quadratic in its length.
_COLON = re.compile(r"(?<![ \t])[ \t]*:[ \t]*")
_COMMA = re.compile(r"(?<![ \t])[ \t]*,[ \t]*")


def spelling(text: str, value: Mapping[str, Any]) -> dict[str, str]:
    """How the JSON object ``text`` (``value`` once parsed) is written: a label per aspect."""
    literals = _STRING.findall(text)
    escapes = [e for literal in literals for e in _ESCAPE.findall(literal)]
    plain = "".join(_ESCAPE.sub("", literal) for literal in literals)
    lead, trail = text[: len(text) - len(text.lstrip(_WS))], text[len(text.rstrip(_WS)) :]
    around = [f"{where} {_visible(ws)}" for where, ws in (("leading", lead), ("trailing", trail))]
    return {
        "layout": _layout(_STRING.sub('""', text.strip(_WS))),
        "whitespace around": " and ".join(a for a in around if not a.endswith("''")) or "none",
        "non-ASCII": _either(
            any(ord(ch) > 0x7F for ch in plain),
            any(e.startswith("u") for e in escapes),
            ("raw UTF-8", "\\uXXXX escapes", "no non-ASCII text"),
        ),
        "slash": _either("/" in plain, "/" in escapes, ("plain /", "\\/ escapes", "no /")),
        "key order": ", ".join(value),
    }


def differences(mine: Mapping[str, str], other: Mapping[str, str]) -> str:
    """The aspects in which spelling ``mine`` differs from ``other``, as ``mine`` has them."""
    return "; ".join(
        "keys in another order" if aspect == "key order" else f"{aspect} {label}"
        for aspect, label in mine.items()
        if label != other[aspect]
    )


def _layout(skeleton: str) -> str:
    """Separators and line breaks of a body whose string literals are emptied."""
    if "\n" in skeleton:
        breaks = "CRLF" if "\r\n" in skeleton else "LF"
        return f"multi-line, {breaks} line breaks"
    colons = set(_COLON.findall(skeleton))
    commas = set(_COMMA.findall(skeleton))
    if len(colons) > 1 or len(commas) > 1:
        return "mixed spacing"
    comma, colon = next(iter(commas), ","), next(iter(colons), ":")
    shown = f"'{comma}' and '{colon}'"
    if (comma, colon) == (",", ":"):
        return f"compact ({shown})"
    return f"spaced ({shown})" if (comma, colon) == (", ", ": ") else f"separators {shown}"


def _visible(ws: str) -> str:
    return "'" + ws.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n") + "'"


def _either(first: bool, second: bool, labels: tuple[str, str, str]) -> str:
    """``labels[0]``, ``labels[1]``, both, or ``labels[2]`` when neither."""
    if first and second:
        return f"{labels[0]} and {labels[1]}"
    return labels[0] if first else labels[1] if second else labels[2]


def shape(value: Any) -> str:
    """The JSON shape of a field's value: a key of ``SHAPES`` other than ``absent``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        if not value:
            return "empty-string"
        return "digit-string" if value.isascii() and value.isdigit() else "string"
    return "object" if isinstance(value, dict) else "array"


def features(value: Mapping[str, Any], fields: Iterable[str]) -> set[Feature]:
    """``(field, shape)`` for each of ``fields`` (``absent`` too); ``(state, "=new")`` too."""
    out = {(f, shape(value[f]) if f in value else "absent") for f in fields}
    return out | {(f, f"={value[f]}") for f in VALUED if isinstance(value.get(f), str)}


def phrase(feature: Feature) -> str:
    """``is_record is a boolean``, ``state is "new"``."""
    field, kind = feature
    if kind.startswith("="):
        return f"{field} is {json.dumps(kind[1:], ensure_ascii=False)}"
    return f"{field} {SHAPES[kind]}"


def feature_id(feature: Feature) -> str:
    """``is_record:boolean``, ``state=new``."""
    field, kind = feature
    return f"{field}{kind}" if kind.startswith("=") else f"{field}:{kind}"
