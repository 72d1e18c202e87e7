"""The guide's own examples (fixtures/guide_examples), as bytes and as values."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from conformance.spec.paths import FIXTURES

EXAMPLES = FIXTURES / "guide_examples"


@cache
def index() -> list[dict[str, Any]]:
    with (EXAMPLES / "index.json").open(encoding="utf-8") as fh:
        entries: list[dict[str, Any]] = json.load(fh)["examples"]
    return entries


def entry(name: str) -> dict[str, Any]:
    """The index entry of example ``name`` (``call_events.new``): section, title, errata."""
    [found] = [e for e in index() if e["file"] == f"{name}.json"]
    return found


def raw(name: str) -> bytes:
    """The example's bytes exactly as the guide prints them, e.g. ``call_events.new``."""
    return (EXAMPLES / f"{name}.json").read_bytes()


def value(name: str) -> Any:
    return json.loads(raw(name))


@cache
def signature_vectors() -> dict[str, dict[str, str]]:
    """The known-answer vectors of 1.4.2 (fixtures/signature_vectors.json), by name."""
    with (FIXTURES / "signature_vectors.json").open(encoding="utf-8") as fh:
        vectors: list[dict[str, str]] = json.load(fh)["vectors"]
    return {vector["name"]: vector for vector in vectors}
