"""Many JSON texts for one value.

The signature covers raw bytes (1.4.1), so a receiver must hash what arrived,
not a re-serialisation of it. Every ``TextStyle`` writes the same value as a
different, valid JSON text (RFC 8259): spacing, indentation, key order, raw
UTF-8 versus ``\\uXXXX`` escapes, ``\\/`` for ``/``, line endings and
surrounding whitespace. ``render(value, style)`` parses back to ``value``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from typing import Any, Literal

from hypothesis import strategies as st

KeyOrder = Literal["given", "reversed", "sorted", "shuffled"]


@dataclass(frozen=True)
class TextStyle:
    item_sep: str = ", "
    key_sep: str = ": "
    indent: int | None = None
    ascii_escapes: bool = False
    escape_slash: bool = False
    key_order: KeyOrder = "given"
    shuffle_seed: int = 0
    crlf: bool = False
    leading: str = ""
    trailing: str = ""


def _ordered(value: Any, style: TextStyle, rng: random.Random) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        if style.key_order == "reversed":
            keys.reverse()
        elif style.key_order == "sorted":
            keys.sort()
        elif style.key_order == "shuffled":
            rng.shuffle(keys)
        return {key: _ordered(value[key], style, rng) for key in keys}
    if isinstance(value, list):
        return [_ordered(item, style, rng) for item in value]
    return value


def render(value: Any, style: TextStyle) -> bytes:
    """The JSON text of ``value`` written in ``style``, UTF-8 encoded."""
    rng = random.Random(style.shuffle_seed)
    text = json.dumps(
        _ordered(value, style, rng),
        ensure_ascii=style.ascii_escapes,
        indent=style.indent,
        separators=(style.item_sep, style.key_sep),
    )
    if style.escape_slash:
        # "/" only ever occurs inside strings in JSON text, and "\/" is its escape.
        text = text.replace("/", "\\/")
    if style.crlf:
        text = text.replace("\n", "\r\n")
    return (style.leading + text + style.trailing).encode("utf-8")


#: Named styles, each one idea. Ids are stable: cases are parametrised by them.
STYLES: dict[str, TextStyle] = {
    "compact": TextStyle(item_sep=",", key_sep=":"),
    "raw-utf8": TextStyle(),
    "guide-vector": TextStyle(item_sep=",", key_sep=": "),
    "spaced-colon": TextStyle(item_sep=" , ", key_sep=" : "),
    "pretty-2": TextStyle(indent=2, item_sep=",", key_sep=": "),
    "pretty-4-crlf": TextStyle(indent=4, item_sep=",", key_sep=": ", crlf=True),
    "keys-reversed": TextStyle(key_order="reversed"),
    "keys-sorted": TextStyle(key_order="sorted", item_sep=",", key_sep=":"),
    "unicode-escaped": TextStyle(ascii_escapes=True),
    "slash-escaped": TextStyle(escape_slash=True),
    "escaped-everything": TextStyle(ascii_escapes=True, escape_slash=True, item_sep=",", key_sep=":"),
    "trailing-newline": TextStyle(trailing="\n"),
    "surrounding-whitespace": TextStyle(leading=" \t\r\n", trailing=" \r\n\t"),
}


@st.composite
def text_styles(draw: st.DrawFn) -> TextStyle:
    """Any combination of the variations above."""
    ws = st.sampled_from(["", " ", "  ", "\t", "\n", "\r\n"])
    indent = draw(st.one_of(st.none(), st.integers(0, 4)))
    style = TextStyle(
        item_sep=draw(st.sampled_from([",", ", ", " ,", " , "])),
        key_sep=draw(st.sampled_from([":", ": ", " :", " : "])),
        indent=indent,
        ascii_escapes=draw(st.booleans()),
        escape_slash=draw(st.booleans()),
        key_order=draw(st.sampled_from(["given", "reversed", "sorted", "shuffled"])),
        shuffle_seed=draw(st.integers(0, 2**16)),
        crlf=draw(st.booleans()),
        leading=draw(ws),
        trailing=draw(ws),
    )
    return replace(style, crlf=style.crlf and indent is not None)
