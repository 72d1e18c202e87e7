"""The contract in formats other tools read: OpenAPI 3.1 (``openapi``), Postman v2.1 (``postman``).

Each builder is ``build(profile) -> dict``, made from ``spec/`` alone: the shapes
of ``schemas/`` (through ``spec.schemas``), the guide's examples, its errata and
its signature rule. Nothing here writes a shape of its own. ``text`` is an
export as the command line prints it; ``attach`` writes both beside a run's
results.json (D50).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from conformance.contract import openapi, postman
from conformance.spec import examples
from conformance.spec.schemas import PROFILES, Profile

__all__ = ["FILES", "PROFILES", "attach", "build", "dumps", "published", "text", "write"]

#: The exports, by the name the command line gives them, and the file a report carries each in.
FILES = {"openapi": "openapi.json", "postman": "postman_collection.json"}


def build(kind: str, profile: Profile = "guide") -> dict[str, Any]:
    """Export ``kind`` (a key of ``FILES``) under ``profile``, as a JSON value."""
    builders = {"openapi": openapi.build, "postman": postman.build}
    return builders[kind](profile)


def dumps(document: Mapping[str, Any]) -> str:
    """An export as JSON text; the guide's Russian stays readable."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def text(kind: str, profile: Profile = "guide") -> str:
    """Export ``kind`` as the command line prints it."""
    return dumps(build(kind, profile))


def write(content: str, out: Path) -> None:
    """Write ``content`` to ``out``: a new or regular file through a partial file beside it,
    so that no reader sees half of it; anything else (``/dev/stdout``, a FIFO, a symlink)
    is written through, never replaced."""
    if not out.name:
        raise IsADirectoryError(errno.EISDIR, "names a folder, not a file", str(out))
    if out.is_symlink() or (out.exists() and not out.is_file()):
        with out.open("w", encoding="utf-8") as fh:
            fh.write(content)
        return
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(content, encoding="utf-8")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def published(secrets: list[str]) -> list[str]:
    """Of a run's ``secrets``, those an export can hold: the exports carry no key of a run,
    only the guide's published worked examples (1.4.2, В.1), whose key a test setup may
    use as its own. Redacting anything else would rewrite the exports themselves (a key
    ``key`` would rename every ``"key"`` field of the collection)."""
    keys = {vector["key"] for vector in examples.signature_vectors().values()}
    return [secret for secret in secrets if secret in keys]


def attach(
    report_dir: Path, profile: Profile, scrub: Callable[[dict[str, Any]], Any] = dict
) -> list[str]:
    """Write every export into ``report_dir``; the names of the files written.

    ``scrub`` takes each document before it is written: the run's redaction of the
    keys ``published`` names.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    for kind, name in FILES.items():
        write(dumps(scrub(build(kind, profile))), report_dir / name)
    return list(FILES.values())
