"""Hypothesis strategies compiled from the message schemas.

Why not hypothesis-jsonschema: its last release (0.23.1, 2024) drives private
Hypothesis internals (``cu.many(...).more()``) that current Hypothesis removed,
so every object schema fails at draw time. Our schemas use a small, fixed
subset of JSON Schema; this module compiles exactly that subset and raises
``UnsupportedSchema`` on anything else, so a schema edit can never silently
generate the wrong thing. The self-tests assert that every generated value
validates against the schema it came from.

Unconstrained strings are drawn from printable characters of the Basic
Multilingual Plane (letters, digits, punctuation, symbols, spaces; Cyrillic
included), the way hypothesis-jsonschema offers an ``alphabet``: control
characters and 4-byte UTF-8 (which some databases cannot store) are a separate
concern, not one for "must be accepted" cases.
"""

from __future__ import annotations

import json
import re._parser as _sre  # type: ignore[import-not-found]  # the stdlib's, as Hypothesis uses
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from conformance.spec import schemas
from conformance.spec.schemas import Profile

TEXT = st.characters(categories=("L", "N", "P", "S", "Zs"), max_codepoint=0xFFFF)
#: Any character a string can carry in UTF-8: ``st.text()``'s own default alphabet
#: (``characters(codec="utf-8")``, every code point but the surrogates), the same
#: intervals and so the same draws, named by category: Hypothesis finds a codec's
#: characters by encoding all 1.1 million code points, some 3 s on the 2-core machine,
#: and caches them in ``.hypothesis/`` of the working directory only, so every run
#: from a fresh checkout (CI) paid them again (issue 13, speed).
ANY_CHARACTER = st.characters(exclude_categories=["Cs"])
#: Where the guide sets no bound, generated values stay within these: strings of
#: up to 40 characters and 32-bit integers (a PIN, a Unix time). The schemas
#: themselves claim no bound the guide does not state.
TEXT_LENGTH = 40
#: Values no required field of the guide's tables admits under any profile or
#: reading: each is a string, and А.2's timestamp may also be an integer (a boolean is not one).
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(ANY_CHARACTER, max_size=3), st.integers(), max_size=2),
)
INT_BOUND = 2**31 - 1
T = TypeVar("T")
_HANDLED = {
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "examples",
    "type",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "anyOf",
    "oneOf",
    "properties",
    "required",
    "additionalProperties",
}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


class Compiler:
    """Compiles one schema document (resolving its ``$ref`` s) under one view."""

    def __init__(self, name: str, profile: Profile, *, canonical: bool) -> None:
        self.profile = profile
        self.canonical = canonical
        self.root = schemas.view(name, profile, canonical=canonical)
        self._compiled: dict[str, st.SearchStrategy[Any]] = {}
        self._properties: dict[str, st.SearchStrategy[Any]] = {}

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        doc_name, _, pointer = ref.partition("#")
        doc = self.root
        if doc_name:
            doc = schemas.view(
                doc_name.removesuffix(".json"), self.profile, canonical=self.canonical
            )
        node: Any = doc
        for part in filter(None, pointer.split("/")):
            node = node[part]
        return dict(node)

    def compile(self, schema: Mapping[str, Any] | None = None) -> st.SearchStrategy[Any]:
        """The strategy for ``schema`` (default: the whole document), built once and reused."""
        schema = self.root if schema is None else schema
        key = json.dumps(schema, sort_keys=True)
        if key not in self._compiled:
            self._compiled[key] = self._build(schema)
        return self._compiled[key]

    def _build(self, schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        unknown = {k for k in schema if not k.startswith("x-")} - _HANDLED
        if unknown:
            raise UnsupportedSchema(f"keywords not supported by the generator: {sorted(unknown)}")
        if "$ref" in schema:
            merged = {
                **self._resolve(schema["$ref"]),
                **{k: v for k, v in schema.items() if k != "$ref"},
            }
            return self.compile(merged)
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if alternatives and schema.get("type") != "object":
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            return st.one_of([self.compile({**rest, **alt}) for alt in alternatives])
        kind = schema.get("type")
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            low = schema.get("minimum", -INT_BOUND)
            return st.integers(low, schema.get("maximum", max(low, INT_BOUND)))
        if kind == "number":
            low = schema.get("minimum", -INT_BOUND)
            high = schema.get("maximum", max(low, INT_BOUND))
            return st.floats(low, high, allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "object":
            return self._object(schema)
        raise UnsupportedSchema(f"cannot generate from {dict(schema)!r}")

    def _string(self, schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
        if "pattern" in schema:
            return regex(schema["pattern"])
        low = schema.get("minLength", 0)
        return st.text(TEXT, min_size=low, max_size=schema.get("maxLength", low + TEXT_LENGTH))

    def property(self, name: str) -> st.SearchStrategy[Any]:
        """The strategy for one top-level property of the document."""
        if name not in self._properties:
            self._properties[name] = self.compile(self.root["properties"][name])
        return self._properties[name]

    def _object(self, schema: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        props: Mapping[str, Any] = schema.get("properties", {})
        groups = [set(alt.get("required", ())) for alt in schema.get("anyOf", [{}])]
        base_required = set(schema.get("required", ()))

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            required = base_required | draw(st.sampled_from(groups))
            out: dict[str, Any] = {}
            for key, sub in props.items():
                if key in required or draw(st.booleans()):
                    out[key] = draw(self.compile(sub))
            return out

        return build()


_REPEAT_CAP = 16


def regex(pattern: str) -> st.SearchStrategy[str]:
    """Strings matching ``pattern`` in full.

    Our patterns are anchored sequences of literals, character classes, groups,
    alternations and bounded repeats. Those compile to ``st.text`` over an
    explicit alphabet, which Hypothesis draws as one choice -- three times
    faster than ``st.from_regex``, which draws character by character. Any
    other construct falls back to ``st.from_regex``.
    """
    try:
        parsed = _sre.parse(pattern)
        return _sequence(list(parsed))
    except _Fallback:
        return st.from_regex(schemas.ecma_pattern(pattern), fullmatch=True)


class _Fallback(Exception):
    pass


def _charset(op: Any, arg: Any) -> str | None:
    if op is _sre.LITERAL:
        return chr(arg)
    if op is _sre.IN:
        chars: list[str] = []
        for item_op, item_arg in arg:
            if item_op is _sre.LITERAL:
                chars.append(chr(item_arg))
            elif item_op is _sre.RANGE:
                chars.extend(chr(c) for c in range(item_arg[0], item_arg[1] + 1))
            else:
                raise _Fallback
        return "".join(chars)
    return None


def _sequence(items: list[tuple[Any, Any]]) -> st.SearchStrategy[str]:
    parts: list[st.SearchStrategy[str]] = []
    for op, arg in items:
        chars = _charset(op, arg)
        if chars is not None:
            parts.append(st.sampled_from(chars) if len(chars) > 1 else st.just(chars))
        elif op is _sre.AT:
            continue
        elif op is _sre.SUBPATTERN:
            parts.append(_sequence(list(arg[3])))
        elif op is _sre.BRANCH:
            parts.append(st.one_of([_sequence(list(alt)) for alt in arg[1]]))
        elif op is _sre.MAX_REPEAT:
            low, high, sub = arg[0], min(arg[1], arg[0] + _REPEAT_CAP), list(arg[2])
            single = _charset(*sub[0]) if len(sub) == 1 else None
            if single is not None:
                alphabet = st.characters(categories=(), include_characters=single)
                parts.append(st.text(alphabet, min_size=low, max_size=high))
            elif (low, high) == (0, 1):
                parts.append(st.one_of(st.just(""), _sequence(sub)))
            else:
                parts.append(st.lists(_sequence(sub), min_size=low, max_size=high).map("".join))
        else:
            raise _Fallback
    if len(parts) == 1:
        return parts[0]
    return st.tuples(*parts).map("".join)


def values(
    strategy: st.SearchStrategy[T],
    *,
    seed_value: int,
    count: int,
    each: Callable[[T], None] | None = None,
) -> list[T]:
    """Up to ``count`` values of ``strategy``, the same list for the same seed.

    ``each`` is called with every value as soon as it is drawn, before the next
    one is: a caller can send the first examples while the rest are drawn.
    """
    drawn: list[T] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def take(value: T) -> None:
        drawn.append(value)
        if each is not None:
            each(value)

    take()
    return drawn


@cache
def compiler(name: str, profile: Profile = "guide", *, canonical: bool = True) -> Compiler:
    """The shared compiler of one schema view."""
    return Compiler(name, profile, canonical=canonical)


def strategy(
    name: str, profile: Profile = "guide", *, canonical: bool = True
) -> st.SearchStrategy[Any]:
    """Valid instances of message ``name``; canonical ones unless told otherwise."""
    return compiler(name, profile, canonical=canonical).compile()
