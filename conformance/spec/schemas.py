"""The message schemas of Appendix А, loaded once, viewed per profile and reading.

One schema file per message holds every shape the suite knows. Alternatives in
an ``anyOf`` carry annotations:

* ``"x-profile": "field"`` -- a production shape from later editions (NOTES.md);
  part of the schema only under ``--profile field``.
* ``"x-reading": "E4"`` -- the second reading of a contradiction in the guide,
  or (``"RFC 3261"``) a shape the guide does not exclude though its examples
  never show it. Valid under every profile; left out of the *canonical* view,
  which is what every reading of the guide accepts and what "must be accepted"
  cases send.

``view(name, profile, canonical)`` returns the schema with the unwanted
alternatives removed; nothing else is written twice.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Literal

import jsonschema
import referencing
from jsonschema.exceptions import ValidationError
from referencing.jsonschema import DRAFT202012

from conformance.spec.paths import SCHEMAS

Profile = Literal["guide", "field"]
PROFILES: tuple[Profile, ...] = ("guide", "field")
MESSAGES = (
    "call_events",
    "call_back.request",
    "call_back.response",
    "get_record.request",
    "get_record.response",
)
_BASE = "https://vats-conformance.invalid/schemas/"


@cache
def raw(name: str) -> dict[str, Any]:
    """The schema file exactly as written."""
    with (SCHEMAS / f"{name}.json").open(encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc


def _keep(node: Mapping[str, Any], profile: Profile, canonical: bool) -> bool:
    if node.get("x-profile") == "field" and profile != "field":
        return False
    return not (canonical and "x-reading" in node)


def _prune(node: Any, profile: Profile, canonical: bool) -> Any:
    if isinstance(node, list):
        return [_prune(item, profile, canonical) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _prune(value, profile, canonical) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        if key in out:
            out[key] = [alt for alt in out[key] if _keep(alt, profile, canonical)]
            if len(out[key]) == 1 and key == "anyOf":
                only = out.pop(key)[0]
                out = {**out, **only}
    return out


@cache
def _view(name: str, profile: Profile, canonical: bool) -> str:
    return json.dumps(_prune(raw(name), profile, canonical))


def view(name: str, profile: Profile = "guide", *, canonical: bool = False) -> dict[str, Any]:
    """A fresh copy of schema ``name`` under ``profile``; ``canonical`` drops x-reading shapes."""
    result: dict[str, Any] = json.loads(_view(name, profile, canonical))
    return result


def _registry(profile: Profile, canonical: bool) -> referencing.Registry[Any]:
    resources = [
        (
            _BASE + f"{name}.json",
            DRAFT202012.create_resource(view(name, profile, canonical=canonical)),
        )
        for name in MESSAGES
    ]
    return referencing.Registry().with_resources(resources)


def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a JSON Schema pattern with ECMA-262 semantics for a final ``$``.

    In Python ``$`` also matches before a trailing newline, so ``"+7495\\n"``
    would pass ``^\\+[0-9]+$``. JSON Schema patterns are ECMA-262 regexes, where
    it does not; ``\\Z`` is the Python spelling of that.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"pattern": _pattern}
)


@cache
def validator(name: str, profile: Profile = "guide", *, canonical: bool = False) -> Any:
    """A validator for message ``name`` under ``profile``."""
    schema = view(name, profile, canonical=canonical)
    return _Validator(schema, registry=_registry(profile, canonical))


def errors(name: str, instance: Any, profile: Profile = "guide") -> list[str]:
    """Human-readable schema violations, empty when ``instance`` is valid."""
    found = sorted(validator(name, profile).iter_errors(instance), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in found]


def is_valid(name: str, instance: Any, profile: Profile = "guide") -> bool:
    return bool(validator(name, profile).is_valid(instance))


def only_for(name: str) -> dict[str, dict[str, list[str]]]:
    """Table А.2's "Устанавливается только для ..." rules: field -> {key: allowed values}."""
    props = raw(name).get("properties", {})
    return {
        field: dict(spec["x-only-for"]) for field, spec in props.items() if "x-only-for" in spec
    }


def copy_of(value: Any) -> Any:
    return copy.deepcopy(value)
