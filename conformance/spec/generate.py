"""Hypothesis strategies compiled from the message schemas.

Why not hypothesis-jsonschema: its last release (0.23.1, 2024) drives private
Hypothesis internals (``cu.many(...).more()``) that current Hypothesis removed,
so every object schema fails at draw time. Our schemas use a small, fixed
subset of JSON Schema; this module compiles exactly that subset and raises
``UnsupportedSchema`` on anything else, so a schema edit can never silently
generate the wrong thing. The self-tests assert that every generated value
validates against the schema it came from.

Unconstrained strings are drawn from printable characters (letters, digits,
punctuation, symbols, spaces; Cyrillic included), the way hypothesis-jsonschema
offers an ``alphabet``: control characters are a separate concern, exercised by
dedicated cases, not by "must be accepted" ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from conformance.spec import schemas
from conformance.spec.schemas import Profile

TEXT = st.characters(categories=("L", "N", "P", "S", "Zs"))
_HANDLED = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "examples",
    "type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "anyOf", "oneOf", "properties", "required", "additionalProperties",
}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


class Compiler:
    """Compiles one schema document (resolving its ``$ref`` s) under one view."""

    def __init__(self, name: str, profile: Profile, *, canonical: bool) -> None:
        self.profile = profile
        self.canonical = canonical
        self.root = schemas.view(name, profile, canonical=canonical)

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        doc_name, _, pointer = ref.partition("#")
        doc = self.root
        if doc_name:
            doc = schemas.view(doc_name.removesuffix(".json"), self.profile, canonical=self.canonical)
        node: Any = doc
        for part in filter(None, pointer.split("/")):
            node = node[part]
        return dict(node)

    def compile(self, schema: Mapping[str, Any] | None = None) -> st.SearchStrategy[Any]:
        schema = self.root if schema is None else schema
        unknown = {k for k in schema if not k.startswith("x-")} - _HANDLED
        if unknown:
            raise UnsupportedSchema(f"keywords not supported by the generator: {sorted(unknown)}")
        if "$ref" in schema:
            merged = {**self._resolve(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
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
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "object":
            return self._object(schema)
        raise UnsupportedSchema(f"cannot generate from {dict(schema)!r}")

    def _string(self, schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
        if "pattern" in schema:
            return st.from_regex(schemas.ecma_pattern(schema["pattern"]), fullmatch=True)
        return st.text(TEXT, min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 40))

    def property(self, name: str) -> st.SearchStrategy[Any]:
        """The strategy for one top-level property of the document."""
        return self.compile(self.root["properties"][name])

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


def strategy(name: str, profile: Profile = "guide", *, canonical: bool = True) -> st.SearchStrategy[Any]:
    """Valid instances of message ``name``; canonical ones unless told otherwise."""
    return Compiler(name, profile, canonical=canonical).compile()
