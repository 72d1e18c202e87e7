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
from dataclasses import dataclass
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
    "escaped-everything": TextStyle(
        ascii_escapes=True, escape_slash=True, item_sep=",", key_sep=":"
    ),
    "trailing-newline": TextStyle(trailing="\n"),
    "surrounding-whitespace": TextStyle(leading=" \t\r\n", trailing=" \r\n\t"),
}


_ITEM_SEPS = (",", ", ", " ,", " , ")
_KEY_SEPS = (":", ": ", " :", " : ")
_SPACE = ("", " ", "  ", "\t", "\n", "\r\n")
_ORDERS: tuple[KeyOrder, ...] = ("given", "reversed", "sorted", "shuffled")


def style_from(number: int) -> TextStyle:
    """The style numbered ``number``: every combination of the variations above has one.

    Styles are drawn as one number because nothing is shrunk (see
    grading/explore.py): one draw instead of ten keeps generation cheap.
    """
    rng = random.Random(number)
    indent = rng.choice([None, None, 0, 1, 2, 4])
    return TextStyle(
        item_sep=rng.choice(_ITEM_SEPS),
        key_sep=rng.choice(_KEY_SEPS),
        indent=indent,
        ascii_escapes=rng.random() < 0.5,
        escape_slash=rng.random() < 0.5,
        key_order=rng.choice(_ORDERS),
        shuffle_seed=rng.randrange(2**16),
        crlf=indent is not None and rng.random() < 0.5,
        leading=rng.choice(_SPACE),
        trailing=rng.choice(_SPACE),
    )


def text_styles() -> st.SearchStrategy[TextStyle]:
    """Any combination of the variations above."""
    return st.integers(0, 2**32 - 1).map(style_from)
